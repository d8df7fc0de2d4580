// Side-by-side benchmarking of two implementations of the same work (here: the addon and PyTorch eager).
// On a noisy machine two runs minutes apart can differ by 20% or more, so the sides are measured in
// alternation (A B, then B A, ...) and compared round by round: the figure that counts is the median of
// the per-round ratios A/B, which cancels most of the drift that both sides see alike. Generic: a
// benchmark is a pair of `measure` functions, so ResNet, BERT or CLIP benchmarks reuse it as they are.

export interface Measurement {
  /** Seconds the timed work took. */
  seconds: number;
  /** Units of work done in that time (steps, images, ...). */
  units: number;
  /**
   * CPU time the measuring process used meanwhile, when the side can tell: on a shared machine,
   * (user + system) / seconds well under the thread count means other processes took the CPUs.
   */
  cpu?: CpuUsage;
}

export interface CpuUsage {
  /** Seconds of user and system CPU time. */
  user: number;
  system: number;
  minorFaults: number;
}

/** Snapshot of this process's CPU usage, for `cpuSince`. */
export function cpuNow(): CpuUsage {
  const r = process.resourceUsage();
  return { user: r.userCPUTime / 1e6, system: r.systemCPUTime / 1e6, minorFaults: r.minorPageFault };
}

export function cpuSince(before: CpuUsage): CpuUsage {
  const now = cpuNow();
  return { user: now.user - before.user, system: now.system - before.system, minorFaults: now.minorFaults - before.minorFaults };
}

export interface BenchSide {
  /** Short label, e.g. 'addon' or 'python'. */
  label: string;
  /** Runs the work once and says how long it took. Called `warmUp` times untimed, then once per round. */
  measure(): Promise<Measurement>;
  /** Untimed runs before the first round (JIT profiling, allocator, optimizer state). Default 1. */
  warmUp?: number;
}

export interface Comparison {
  /** Row id, e.g. 'resnet50-train'. */
  id: string;
  /** Human title, e.g. 'resnet50 train (batch 16)'. */
  title: string;
  /** Unit of the rate: units / second, e.g. 'steps/s' or 'images/s'. */
  unit: string;
  a: BenchSide;
  b: BenchSide;
}

export interface RoundResult {
  round: number;
  /** Which side ran first in this round. */
  first: 'a' | 'b';
  a: Measurement & { rate: number };
  b: Measurement & { rate: number };
  /** a.rate / b.rate */
  ratio: number;
}

export interface ComparisonResult {
  id: string;
  title: string;
  unit: string;
  labels: { a: string; b: string };
  rounds: RoundResult[];
  /** Medians over the rounds of each side's rate. */
  medianRate: { a: number; b: number };
  /** Median of the per-round ratios a/b: the headline figure. */
  medianRatio: number;
  minRatio: number;
  maxRatio: number;
  /** Median over the rounds of each side's CPU use: (user + system) / wall seconds, and system / wall. */
  cpuPerWall?: { a?: { total: number; system: number }; b?: { total: number; system: number } };
}

export interface SideBySideOptions {
  rounds: number;
  /** Progress, one call per event (warm-up done, round measured). */
  onEvent?: (event: SideBySideEvent) => void;
}

export type SideBySideEvent =
  | { kind: 'warm-up'; comparison: string; side: string; run: number; of: number; seconds: number; cpu?: CpuUsage }
  | { kind: 'round'; comparison: string; round: number; rounds: number; result: RoundResult };

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function rated(m: Measurement): Measurement & { rate: number } {
  if (!(m.seconds > 0) || !(m.units > 0)) throw new Error(`bad measurement: ${JSON.stringify(m)}`);
  return { ...m, rate: m.units / m.seconds };
}

/**
 * Warms every side up, then runs `rounds` rounds; in each round every comparison measures both of its
 * sides, one after the other, with the side that goes first alternating from round to round (A B, B A,
 * A B, ...). Comparisons are interleaved within a round, so all of them see the same stretch of machine
 * noise.
 */
export async function runSideBySide(comparisons: readonly Comparison[], options: SideBySideOptions): Promise<ComparisonResult[]> {
  if (!Number.isInteger(options.rounds) || options.rounds < 1) throw new TypeError(`rounds must be a positive integer, got ${options.rounds}`);
  for (const c of comparisons) {
    for (const side of [c.a, c.b]) {
      const runs = side.warmUp ?? 1;
      for (let run = 1; run <= runs; run++) {
        const m = await side.measure();
        options.onEvent?.({ kind: 'warm-up', comparison: c.id, side: side.label, run, of: runs, seconds: m.seconds, cpu: m.cpu });
      }
    }
  }
  const rounds = comparisons.map(() => [] as RoundResult[]);
  for (let round = 0; round < options.rounds; round++) {
    const first = round % 2 === 0 ? 'a' : 'b';
    for (const [index, c] of comparisons.entries()) {
      let a: Measurement;
      let b: Measurement;
      if (first === 'a') {
        a = await c.a.measure();
        b = await c.b.measure();
      } else {
        b = await c.b.measure();
        a = await c.a.measure();
      }
      const ra = rated(a);
      const rb = rated(b);
      const result: RoundResult = { round: round + 1, first, a: ra, b: rb, ratio: ra.rate / rb.rate };
      rounds[index]!.push(result);
      options.onEvent?.({ kind: 'round', comparison: c.id, round: round + 1, rounds: options.rounds, result });
    }
  }
  return comparisons.map((c, index) => summarise(c, rounds[index]!));
}

export function summarise(c: Pick<Comparison, 'id' | 'title' | 'unit' | 'a' | 'b'>, rounds: RoundResult[]): ComparisonResult {
  const ratios = rounds.map((r) => r.ratio);
  const cpu = (side: 'a' | 'b') => {
    const used = rounds.map((r) => r[side]).filter((m) => m.cpu);
    if (used.length === 0) return undefined;
    return {
      total: median(used.map((m) => (m.cpu!.user + m.cpu!.system) / m.seconds)),
      system: median(used.map((m) => m.cpu!.system / m.seconds)),
    };
  };
  return {
    id: c.id,
    title: c.title,
    unit: c.unit,
    labels: { a: c.a.label, b: c.b.label },
    rounds,
    medianRate: { a: median(rounds.map((r) => r.a.rate)), b: median(rounds.map((r) => r.b.rate)) },
    medianRatio: median(ratios),
    minRatio: Math.min(...ratios),
    maxRatio: Math.max(...ratios),
    cpuPerWall: { a: cpu('a'), b: cpu('b') },
  };
}

// Rounds of the addon at several precisions (the default, fp32, int8) against onnxruntime-node. Each round
// measures every side once, in an order that rotates through them and reverses every other round (so
// that each side goes first and last equally often), and yields per-round ratios of each addon side
// against the SAME onnxruntime measurement. As in sideBySide.ts, the figures are medians of per-round
// ratios.

import { summarise, type BenchSide, type ComparisonResult, type Measurement, type RoundResult } from './sideBySide.js';

/** One addon side and the result row it makes (`id` and `title` of that row). */
export interface AddonSide {
  id: string;
  title: string;
  side: BenchSide;
}

export interface AgainstOrt {
  /** For the log. */
  id: string;
  unit: string;
  addon: readonly AddonSide[];
  ort: BenchSide;
}

function rated(m: Measurement): Measurement & { rate: number } {
  if (!(m.seconds > 0) || !(m.units > 0)) throw new Error(`bad measurement: ${JSON.stringify(m)}`);
  return { ...m, rate: m.units / m.seconds };
}

/** Round `round`'s order of sides 0..count-1: rotated by the round, reversed on odd rounds. */
export function roundOrder(count: number, round: number): number[] {
  const rotated = Array.from({ length: count }, (_, i) => (i + Math.floor(round / 2)) % count);
  return round % 2 === 1 ? rotated.reverse() : rotated;
}

/** Warms each side up (its warmUp count), then runs `rounds` rounds; one result per addon side, in order. */
export async function runAgainstOrt(t: AgainstOrt, rounds: number, log: (message: string) => void): Promise<ComparisonResult[]> {
  const sides = [...t.addon.map((a) => a.side), t.ort];
  const ortIndex = sides.length - 1;
  for (const side of sides) {
    const runs = side.warmUp ?? 1;
    for (let run = 1; run <= runs; run++) {
      const m = await side.measure();
      log(`${t.id}: warm-up ${side.label} ${run}/${runs} took ${m.seconds.toFixed(2)} s${cpuText(m)}`);
    }
  }
  const perSide: RoundResult[][] = t.addon.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const order = roundOrder(sides.length, round);
    const m: (Measurement & { rate: number })[] = [];
    for (const index of order) m[index] = rated(await sides[index]!.measure());
    const ort = m[ortIndex]!;
    t.addon.forEach((_, i) => {
      // RoundResult records which side went first; 'a' when this addon side preceded ORT.
      const first = order.indexOf(i) < order.indexOf(ortIndex) ? 'a' : 'b';
      perSide[i]!.push({ round: round + 1, first, a: m[i]!, b: ort, ratio: m[i]!.rate / ort.rate });
    });
    log(
      `${t.id}: round ${round + 1}/${rounds} (${order.map((i) => sides[i]!.label).join(', ')}): ` +
        sides.map((side, i) => `${side.label} ${m[i]!.rate.toFixed(3)}${cpuText(m[i]!)}`).join(', ') +
        ` ${t.unit}; ratios ${t.addon.map((_, i) => (m[i]!.rate / ort.rate).toFixed(3)).join(', ')}`,
    );
  }
  return t.addon.map((a, i) => summarise({ id: a.id, title: a.title, unit: t.unit, a: a.side, b: t.ort }, perSide[i]!));
}

function cpuText(m: Measurement): string {
  return m.cpu ? ` [cpu ${((m.cpu.user + m.cpu.system) / m.seconds).toFixed(2)}x]` : '';
}

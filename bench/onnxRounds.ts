// Rounds of three sides: the addon at precision 'auto', the addon at fp32, and onnxruntime-node. Each
// round measures all three, in an order that turns through all six permutations (so that each side goes
// first, second and last equally often), and yields two per-round ratios against the SAME onnxruntime
// measurement: auto/ORT and fp32/ORT. As in sideBySide.ts, the figures are medians of per-round ratios.

import { summarise, type BenchSide, type ComparisonResult, type Measurement, type RoundResult } from './sideBySide.js';

export interface ThreeWay {
  /** The goal row: `id`; the fp32 row: `${id}${fp32Suffix}`. */
  id: string;
  fp32Suffix: string;
  title: string;
  unit: string;
  auto: BenchSide;
  fp32: BenchSide;
  ort: BenchSide;
}

const ORDERS: readonly (readonly ('auto' | 'fp32' | 'ort')[])[] = [
  ['auto', 'fp32', 'ort'],
  ['ort', 'fp32', 'auto'],
  ['fp32', 'ort', 'auto'],
  ['auto', 'ort', 'fp32'],
  ['ort', 'auto', 'fp32'],
  ['fp32', 'auto', 'ort'],
];

function rated(m: Measurement): Measurement & { rate: number } {
  if (!(m.seconds > 0) || !(m.units > 0)) throw new Error(`bad measurement: ${JSON.stringify(m)}`);
  return { ...m, rate: m.units / m.seconds };
}

/** Warms each side up (its warmUp count), then runs `rounds` rounds; returns [auto/ORT, fp32/ORT]. */
export async function runThreeWay(t: ThreeWay, rounds: number, log: (message: string) => void): Promise<[ComparisonResult, ComparisonResult]> {
  const sides = { auto: t.auto, fp32: t.fp32, ort: t.ort };
  for (const side of Object.values(sides)) {
    const runs = side.warmUp ?? 1;
    for (let run = 1; run <= runs; run++) {
      const m = await side.measure();
      log(`${t.id}: warm-up ${side.label} ${run}/${runs} took ${m.seconds.toFixed(2)} s${cpuText(m)}`);
    }
  }
  const autoRounds: RoundResult[] = [];
  const fp32Rounds: RoundResult[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = ORDERS[round % ORDERS.length]!;
    const m: Partial<Record<'auto' | 'fp32' | 'ort', Measurement & { rate: number }>> = {};
    for (const side of order) m[side] = rated(await sides[side].measure());
    const ort = m.ort!;
    // RoundResult records which side went first; 'a' when the addon side of this pair preceded ORT.
    const first = (side: 'auto' | 'fp32'): 'a' | 'b' => (order.indexOf(side) < order.indexOf('ort') ? 'a' : 'b');
    autoRounds.push({ round: round + 1, first: first('auto'), a: m.auto!, b: ort, ratio: m.auto!.rate / ort.rate });
    fp32Rounds.push({ round: round + 1, first: first('fp32'), a: m.fp32!, b: ort, ratio: m.fp32!.rate / ort.rate });
    log(
      `${t.id}: round ${round + 1}/${rounds} (${order.join(', ')}): ${t.auto.label} ${m.auto!.rate.toFixed(3)}${cpuText(m.auto!)}, ` +
        `${t.fp32.label} ${m.fp32!.rate.toFixed(3)}${cpuText(m.fp32!)}, ${t.ort.label} ${ort.rate.toFixed(3)}${cpuText(ort)} ${t.unit}; ` +
        `ratios ${(m.auto!.rate / ort.rate).toFixed(3)} and ${(m.fp32!.rate / ort.rate).toFixed(3)}`,
    );
  }
  return [
    summarise({ id: t.id, title: t.title, unit: t.unit, a: t.auto, b: t.ort }, autoRounds),
    summarise({ id: `${t.id}${t.fp32Suffix}`, title: `${t.title}, addon in fp32`, unit: t.unit, a: t.fp32, b: t.ort }, fp32Rounds),
  ];
}

function cpuText(m: Measurement): string {
  return m.cpu ? ` [cpu ${((m.cpu.user + m.cpu.system) / m.seconds).toFixed(2)}x]` : '';
}

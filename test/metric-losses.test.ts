// The pytorch-metric-learning losses and miners against pytorch-metric-learning 2.8.1 itself
// (test/reference/pml_oracle.py, run on the same embeddings and labels): loss value and gradient to 1e-5
// relative (computed in float64 on both sides), mined index sets equal. Skips where ../shared (the
// reference source) is absent.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeLoss, type ComputeLossResult } from '../lib/index.js';
import type { Loss, LossOptions } from '../lib/losses/index.js';
import { REPO_ROOT } from './helpers/fixtures.js';

const PML_SRC = join(REPO_ROOT, '..', 'shared', 'reference', 'pytorch-metric-learning', 'src');
const ORACLE = join(REPO_ROOT, 'test', 'reference', 'pml_oracle.py');
const TOLERANCE = 1e-5;

interface PmlSpec {
  name: string;
  options?: Record<string, unknown>;
  distance?: 'l2' | 'cosine';
}

interface Case {
  title: string;
  /** The row of the closing table it measures (the loss, or the miner); the loss's name by default. */
  subject?: string;
  loss: Loss;
  options: LossOptions;
  pml: PmlSpec & { miner?: PmlSpec };
}

/** Deterministic normal draws (mulberry32 + Box-Muller). */
function normals(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
}

interface Batch {
  title: string;
  embeddings: Float32Array;
  labels: Int32Array;
  dim: number;
  /** Whether the main assertions on miners (some tuples mined) apply. */
  main?: boolean;
}

/** rows x dim embeddings around one random centre per label, so that miners find some pairs and not others. */
function clusteredBatch(title: string, labels: readonly number[], dim: number, seed: number, spread = 0.9): Batch {
  const draw = normals(seed);
  const classes = Math.max(...labels) + 1;
  const centres = Array.from({ length: classes }, () => Array.from({ length: dim }, () => draw()));
  const embeddings = new Float32Array(labels.length * dim);
  labels.forEach((label, i) => {
    for (let k = 0; k < dim; k++) embeddings[i * dim + k] = centres[label]![k]! + spread * draw();
  });
  return { title, embeddings, labels: Int32Array.from(labels), dim };
}

const range = (n: number, label: (i: number) => number) => Array.from({ length: n }, (_, i) => label(i));

/** Random batches of several seeds, and the edge cases. */
const BATCHES: Batch[] = [
  { ...clusteredBatch('24 rows, 5 labels', range(24, (i) => (i * 7 + 3) % 5), 12, 20261203), main: true },
  clusteredBatch('32 rows, 8 labels', range(32, (i) => (i * 5 + 1) % 8), 8, 7, 1.2),
  clusteredBatch('20 rows, 3 labels, tight', range(20, (i) => i % 3), 16, 99, 0.5),
  clusteredBatch('a label with one row', [0, 0, 0, 1, 1, 1, 2, 2, 3, 1, 0, 2], 6, 4242),
  clusteredBatch('no positive pairs (every label once)', range(8, (i) => i), 6, 11),
  clusteredBatch('one label only', range(8, () => 2), 6, 12),
];
const BATCH = BATCHES[0]!;

const LOSS_CASES: Case[] = [
  { title: 'TripletMarginLoss', loss: 'TripletMarginLoss', options: {}, pml: { name: 'TripletMarginLoss' } },
  { title: 'TripletMarginLoss, cosine, margin 0.2', loss: 'TripletMarginLoss', options: { distance: 'cosine', margin: 0.2 }, pml: { name: 'TripletMarginLoss', options: { margin: 0.2 }, distance: 'cosine' } },
  { title: 'ContrastiveLoss', loss: 'ContrastiveLoss', options: {}, pml: { name: 'ContrastiveLoss' } },
  { title: 'ContrastiveLoss, cosine', loss: 'ContrastiveLoss', options: { distance: 'cosine', posMargin: 0.9, negMargin: 0.2 }, pml: { name: 'ContrastiveLoss', options: { pos_margin: 0.9, neg_margin: 0.2 }, distance: 'cosine' } },
  { title: 'NTXentLoss', loss: 'NTXentLoss', options: {}, pml: { name: 'NTXentLoss' } },
  { title: 'NTXentLoss, l2', loss: 'NTXentLoss', options: { distance: 'l2', temperature: 0.5 }, pml: { name: 'NTXentLoss', options: { temperature: 0.5 }, distance: 'l2' } },
  { title: 'SupConLoss', loss: 'SupConLoss', options: {}, pml: { name: 'SupConLoss' } },
  { title: 'SupConLoss, l2', loss: 'SupConLoss', options: { distance: 'l2' }, pml: { name: 'SupConLoss', distance: 'l2' } },
  { title: 'MultiSimilarityLoss', loss: 'MultiSimilarityLoss', options: {}, pml: { name: 'MultiSimilarityLoss' } },
  { title: 'MultiSimilarityLoss, l2', loss: 'MultiSimilarityLoss', options: { distance: 'l2', base: 1 }, pml: { name: 'MultiSimilarityLoss', options: { base: 1 }, distance: 'l2' } },
  { title: 'CircleLoss', loss: 'CircleLoss', options: {}, pml: { name: 'CircleLoss' } },
  { title: 'LiftedStructureLoss', loss: 'LiftedStructureLoss', options: {}, pml: { name: 'LiftedStructureLoss' } },
  { title: 'LiftedStructureLoss, cosine', loss: 'LiftedStructureLoss', options: { distance: 'cosine', posMargin: 1, negMargin: 0 }, pml: { name: 'LiftedStructureLoss', options: { pos_margin: 1, neg_margin: 0 }, distance: 'cosine' } },
  { title: 'MarginLoss', loss: 'MarginLoss', options: {}, pml: { name: 'MarginLoss' } },
];

/** A loss with each miner: the loss's value and gradient, and the miner's tuples. */
const MINER_CASES: Case[] = [
  ...(['all', 'hard', 'semihard'] as const).map(
    (type): Case => ({
      title: `TripletMarginMiner (${type}) with TripletMarginLoss`,
      subject: `TripletMarginMiner (${type})`,
      loss: 'TripletMarginLoss',
      options: { miner: 'TripletMarginMiner', minerType: type, minerMargin: 0.3, margin: 0.05 },
      pml: { name: 'TripletMarginLoss', options: { margin: 0.05 }, miner: { name: 'TripletMarginMiner', options: { margin: 0.3, type_of_triplets: type } } },
    }),
  ),
  {
    title: 'TripletMarginMiner (easy) with ContrastiveLoss (triplets as pairs)',
    subject: 'TripletMarginMiner (easy)',
    loss: 'ContrastiveLoss',
    options: { miner: 'TripletMarginMiner', minerType: 'easy', minerMargin: 0.3 },
    pml: { name: 'ContrastiveLoss', miner: { name: 'TripletMarginMiner', options: { margin: 0.3, type_of_triplets: 'easy' } } },
  },
  {
    title: 'TripletMarginMiner (semihard, cosine) with NTXentLoss (triplets as pairs)',
    subject: 'TripletMarginMiner (semihard)',
    loss: 'NTXentLoss',
    options: { miner: 'TripletMarginMiner', minerType: 'semihard', minerDistance: 'cosine' },
    pml: { name: 'NTXentLoss', miner: { name: 'TripletMarginMiner', options: { type_of_triplets: 'semihard' }, distance: 'cosine' } },
  },
  {
    title: 'BatchHardMiner with TripletMarginLoss',
    subject: 'BatchHardMiner',
    loss: 'TripletMarginLoss',
    options: { miner: 'BatchHardMiner', margin: 0.05 },
    pml: { name: 'TripletMarginLoss', options: { margin: 0.05 }, miner: { name: 'BatchHardMiner' } },
  },
  {
    title: 'BatchHardMiner (cosine) with ContrastiveLoss',
    subject: 'BatchHardMiner',
    loss: 'ContrastiveLoss',
    options: { miner: 'BatchHardMiner', minerDistance: 'cosine' },
    pml: { name: 'ContrastiveLoss', miner: { name: 'BatchHardMiner', distance: 'cosine' } },
  },
  {
    title: 'BatchEasyHardMiner (easy, semihard) with ContrastiveLoss',
    subject: 'BatchEasyHardMiner',
    loss: 'ContrastiveLoss',
    options: { miner: 'BatchEasyHardMiner' },
    pml: { name: 'ContrastiveLoss', miner: { name: 'BatchEasyHardMiner' } },
  },
  {
    title: 'BatchEasyHardMiner (semihard, hard) with MarginLoss (pairs as triplets)',
    subject: 'BatchEasyHardMiner',
    loss: 'MarginLoss',
    options: { miner: 'BatchEasyHardMiner', minerPosStrategy: 'semihard', minerNegStrategy: 'hard' },
    pml: { name: 'MarginLoss', miner: { name: 'BatchEasyHardMiner', options: { pos_strategy: 'semihard', neg_strategy: 'hard' } } },
  },
  {
    title: 'BatchEasyHardMiner (all, hard) with SupConLoss',
    subject: 'BatchEasyHardMiner',
    loss: 'SupConLoss',
    options: { miner: 'BatchEasyHardMiner', minerPosStrategy: 'all', minerNegStrategy: 'hard' },
    pml: { name: 'SupConLoss', miner: { name: 'BatchEasyHardMiner', options: { pos_strategy: 'all', neg_strategy: 'hard' } } },
  },
  {
    title: 'MultiSimilarityMiner with MultiSimilarityLoss',
    subject: 'MultiSimilarityMiner',
    loss: 'MultiSimilarityLoss',
    options: { miner: 'MultiSimilarityMiner' },
    pml: { name: 'MultiSimilarityLoss', miner: { name: 'MultiSimilarityMiner' } },
  },
  {
    title: 'MultiSimilarityMiner (l2) with CircleLoss',
    subject: 'MultiSimilarityMiner',
    loss: 'CircleLoss',
    options: { miner: 'MultiSimilarityMiner', minerDistance: 'l2', minerEpsilon: 0.3 },
    pml: { name: 'CircleLoss', miner: { name: 'MultiSimilarityMiner', options: { epsilon: 0.3 }, distance: 'l2' } },
  },
  {
    title: 'PairMarginMiner with ContrastiveLoss',
    subject: 'PairMarginMiner',
    loss: 'ContrastiveLoss',
    options: { miner: 'PairMarginMiner', minerPosMargin: 0.6, minerNegMargin: 1.1 },
    pml: { name: 'ContrastiveLoss', miner: { name: 'PairMarginMiner', options: { pos_margin: 0.6, neg_margin: 1.1 } } },
  },
  {
    title: 'PairMarginMiner (cosine) with LiftedStructureLoss',
    subject: 'PairMarginMiner',
    loss: 'LiftedStructureLoss',
    options: { miner: 'PairMarginMiner', minerDistance: 'cosine', minerPosMargin: 0.7, minerNegMargin: 0.2 },
    pml: { name: 'LiftedStructureLoss', miner: { name: 'PairMarginMiner', options: { pos_margin: 0.7, neg_margin: 0.2 }, distance: 'cosine' } },
  },
];

interface OracleLoss {
  loss: number;
  grad: number[][];
  weightGrads: Record<string, number[][]>;
}
interface OracleMined {
  tuples?: number[][];
  pairs?: [number[][], number[][]];
}

function runOracle(cases: object[]): unknown[] {
  const request = { pml_src: PML_SRC, cases };
  const run = spawnSync('/usr/bin/python3', [ORACLE], { input: JSON.stringify(request), encoding: 'utf8', maxBuffer: 1 << 28 });
  if (run.status !== 0) throw new Error(`pml_oracle.py failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as { results: unknown[] }).results;
}

function rows(values: Float32Array, dim: number): number[][] {
  return Array.from({ length: values.length / dim }, (_, i) => Array.from(values.subarray(i * dim, (i + 1) * dim)));
}

/** What encode() returns, for a batch. */
function embeddingsOf(batch: Batch) {
  return { rows: batch.labels.length, dim: batch.dim, data: batch.embeddings };
}

/** max |ours - reference| / max |reference| (absolute where the reference is all zeros). */
function relativeDifference(ours: ArrayLike<number>, reference: ArrayLike<number>): number {
  expect(ours.length).toBe(reference.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < reference.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i]! - reference[i]!));
    scale = Math.max(scale, Math.abs(reference[i]!));
  }
  return scale > 0 ? diff / scale : diff;
}

function minedRows(result: ComputeLossResult): OracleMined {
  const parts = (result.mined ?? []).map((part) => Array.from(part));
  const zip = (a: number[], b: number[], c?: number[]) => a.map((_, i) => (c ? [a[i]!, b[i]!, c[i]!] : [a[i]!, b[i]!]));
  const sorted = (list: number[][]) => list.sort((x, y) => x.reduce((d, v, i) => d || v - y[i]!, 0));
  if (parts.length === 3) return { tuples: sorted(zip(parts[0]!, parts[1]!, parts[2]!)) };
  return { pairs: [sorted(zip(parts[0]!, parts[1]!)), sorted(zip(parts[2]!, parts[3]!))] };
}

/** The closing table: per loss and miner, the largest differences to PML over every case and batch. */
interface Measured {
  loss: number;
  gradient: number;
  weights?: number;
  minedEqual?: boolean;
  runs: number;
}
const measured = new Map<string, Measured>();
function record(subject: string, entry: Partial<Measured>): void {
  const row = measured.get(subject) ?? { loss: 0, gradient: 0, runs: 0 };
  if (entry.loss !== undefined) {
    row.loss = Math.max(row.loss, entry.loss);
    row.gradient = Math.max(row.gradient, entry.gradient!);
    row.runs += 1;
  }
  if (entry.weights !== undefined) row.weights = Math.max(row.weights ?? 0, entry.weights);
  if (entry.minedEqual !== undefined) row.minedEqual = (row.minedEqual ?? true) && entry.minedEqual;
  measured.set(subject, row);
}
afterAll(() => {
  if (measured.size === 0) return;
  const lines = [...measured].map(
    ([subject, row]) =>
      `| ${subject} | ${row.runs} | ${row.loss.toExponential(1)} | ${row.gradient.toExponential(1)}` +
      `${row.weights === undefined ? '' : ` (weights ${row.weights.toExponential(1)})`} | ${row.minedEqual === undefined ? '' : row.minedEqual ? 'equal' : 'DIFFERENT'} |`,
  );
  console.log(
    `Largest relative difference to pytorch-metric-learning 2.8.1 (float64, ${BATCHES.length} batches):\n` +
      '| loss or miner | runs | loss | gradient | mined index sets |\n|---|---|---|---|---|\n' +
      lines.join('\n'),
  );
});

const available = existsSync(PML_SRC);
if (!available) console.log(`metric-losses.test.ts: skipped, the reference source is absent (${PML_SRC})`);

/** Every case on every batch. */
function runs<C extends Case>(cases: readonly C[]) {
  return cases.flatMap((c) => BATCHES.map((batch) => ({ c, batch, title: `${c.title} on ${batch.title}` })));
}

describe.skipIf(!available)('the pytorch-metric-learning losses and miners against pytorch-metric-learning 2.8.1', () => {
  const lossRuns = runs([...LOSS_CASES, ...MINER_CASES]);
  const minerRuns = runs(MINER_CASES);
  let oracle: unknown[];

  beforeAll(() => {
    const input = (batch: Batch) => ({ embeddings: rows(batch.embeddings, batch.dim), labels: Array.from(batch.labels) });
    const lossCases = lossRuns.map(({ c, batch }) => ({ kind: 'loss', ...c.pml, miner: c.pml.miner ?? null, distance: c.pml.distance ?? null, ...input(batch) }));
    const minerCases = minerRuns.map(({ c, batch }) => ({ kind: 'miner', ...c.pml.miner!, distance: c.pml.miner!.distance ?? null, ...input(batch) }));
    oracle = runOracle([...lossCases, ...minerCases]);
  });

  it.each(lossRuns.map((run, i) => [run.title, i] as const))('%s: loss and gradient', async (_title, i) => {
    const { c, batch } = lossRuns[i]!;
    const reference = oracle[i] as OracleLoss;
    const result = await computeLoss(c.loss, embeddingsOf(batch), batch.labels, { ...c.options, dtype: 'float64' });
    const lossDiff = relativeDifference([result.loss], [reference.loss]);
    const gradDiff = relativeDifference(result.gradient, reference.grad.flat());
    record(c.subject ?? c.loss, { loss: lossDiff, gradient: gradDiff });
    // On the main batch every case has something to compare: a loss above zero.
    if (batch.main) expect(reference.loss, c.title).toBeGreaterThan(0);
    expect(lossDiff).toBeLessThan(TOLERANCE);
    expect(gradDiff).toBeLessThan(TOLERANCE);
  });

  it.each(minerRuns.map((run, i) => [run.title, i] as const))('%s: the mined tuples', async (_title, i) => {
    const { c, batch } = minerRuns[i]!;
    const reference = oracle[lossRuns.length + i] as OracleMined;
    const result = await computeLoss(c.loss, embeddingsOf(batch), batch.labels, { ...c.options, dtype: 'float64' });
    const mined = minedRows(result);
    record(c.subject!, { minedEqual: JSON.stringify(mined) === JSON.stringify(reference) });
    if (batch.main) {
      // Some tuples and not all: the case says something about the miner.
      const count = mined.tuples?.length ?? mined.pairs![0].length + mined.pairs![1].length;
      expect(count, c.title).toBeGreaterThan(0);
    }
    expect(mined).toEqual(reference);
  });

  it('computes in float32 by default, close to the float64 result', async () => {
    const single = await computeLoss('SupConLoss', embeddingsOf(BATCH), BATCH.labels);
    const double = await computeLoss('SupConLoss', embeddingsOf(BATCH), BATCH.labels, { dtype: 'float64' });
    expect(relativeDifference([single.loss], [double.loss])).toBeLessThan(1e-4);
    expect(relativeDifference(single.gradient, double.gradient)).toBeLessThan(1e-3);
  });
});

/** The losses with a weight per class: computeLoss's initial weights are handed to PML too. */
const CLASS_WEIGHT_CASES: (Case & { parameter: string })[] = [
  { title: 'ArcFaceLoss', loss: 'ArcFaceLoss', options: {}, parameter: 'W', pml: { name: 'ArcFaceLoss' } },
  { title: 'ArcFaceLoss, margin 10, scale 16', loss: 'ArcFaceLoss', options: { margin: 10, scale: 16 }, parameter: 'W', pml: { name: 'ArcFaceLoss', options: { margin: 10, scale: 16 } } },
  { title: 'CosFaceLoss', loss: 'CosFaceLoss', options: {}, parameter: 'W', pml: { name: 'CosFaceLoss' } },
  { title: 'CosFaceLoss, margin 0.2, scale 30', loss: 'CosFaceLoss', options: { margin: 0.2, scale: 30 }, parameter: 'W', pml: { name: 'CosFaceLoss', options: { margin: 0.2, scale: 30 } } },
  { title: 'ProxyAnchorLoss', loss: 'ProxyAnchorLoss', options: {}, parameter: 'proxies', pml: { name: 'ProxyAnchorLoss' } },
  {
    title: 'ProxyAnchorLoss, l2, margin 0.3, alpha 16',
    loss: 'ProxyAnchorLoss',
    options: { distance: 'l2', margin: 0.3, alpha: 16 },
    parameter: 'proxies',
    pml: { name: 'ProxyAnchorLoss', options: { margin: 0.3, alpha: 16 }, distance: 'l2' },
  },
  {
    title: 'ProxyAnchorLoss with MultiSimilarityMiner (miner weights)',
    loss: 'ProxyAnchorLoss',
    options: { miner: 'MultiSimilarityMiner' },
    parameter: 'proxies',
    pml: { name: 'ProxyAnchorLoss', miner: { name: 'MultiSimilarityMiner' } },
  },
  {
    title: 'ArcFaceLoss with TripletMarginMiner (miner weights)',
    loss: 'ArcFaceLoss',
    options: { miner: 'TripletMarginMiner', minerType: 'semihard' },
    parameter: 'W',
    pml: { name: 'ArcFaceLoss', miner: { name: 'TripletMarginMiner', options: { type_of_triplets: 'semihard' } } },
  },
];

describe.skipIf(!available)('the losses with class weights against pytorch-metric-learning 2.8.1', () => {
  const weightRuns = runs(CLASS_WEIGHT_CASES);
  const ours: ComputeLossResult[] = [];
  let oracle: OracleLoss[];

  beforeAll(async () => {
    for (const { c, batch } of weightRuns) {
      const numClasses = Math.max(...batch.labels) + 1;
      ours.push(await computeLoss(c.loss, embeddingsOf(batch), batch.labels, { ...c.options, numClasses, dtype: 'float64' }));
    }
    oracle = runOracle(
      weightRuns.map(({ c, batch }, i) => {
        const weights = ours[i]!.parameters[c.parameter]!;
        const sizes = { num_classes: Math.max(...batch.labels) + 1, embedding_size: batch.dim };
        return {
          kind: 'loss',
          ...c.pml,
          options: { ...c.pml.options, ...sizes },
          miner: c.pml.miner ?? null,
          distance: c.pml.distance ?? null,
          weights: { [c.parameter]: rows(weights.values, weights.shape[1]!) },
          embeddings: rows(batch.embeddings, batch.dim),
          labels: Array.from(batch.labels),
        };
      }),
    ) as OracleLoss[];
  });

  it.each(weightRuns.map((run, i) => [run.title, i] as const))("%s: loss, gradient and the weights' gradient", (_title, i) => {
    const { c } = weightRuns[i]!;
    const result = ours[i]!;
    const reference = oracle[i]!;
    const lossDiff = relativeDifference([result.loss], [reference.loss]);
    const gradDiff = relativeDifference(result.gradient, reference.grad.flat());
    const weightDiff = relativeDifference(result.parameters[c.parameter]!.gradient, reference.weightGrads[c.parameter]!.flat());
    record(c.loss, { loss: lossDiff, gradient: gradDiff, weights: weightDiff });
    if (weightRuns[i]!.batch.main) expect(reference.loss, c.title).toBeGreaterThan(0);
    expect(lossDiff).toBeLessThan(TOLERANCE);
    expect(gradDiff).toBeLessThan(TOLERANCE);
    expect(weightDiff).toBeLessThan(TOLERANCE);
  });
});

describe('computeLoss', () => {
  const embeddings = embeddingsOf(BATCH);

  it('takes rows as Float32Arrays and labels as numbers, as it takes encode() output and an Int32Array', async () => {
    const asRows = rows(BATCH.embeddings, BATCH.dim).map((row) => Float32Array.from(row));
    const fromRows = await computeLoss('ContrastiveLoss', asRows, Array.from(BATCH.labels));
    const fromEncoded = await computeLoss('ContrastiveLoss', embeddings, BATCH.labels);
    expect(fromRows.loss).toBe(fromEncoded.loss);
    expect(fromRows.gradient).toEqual(fromEncoded.gradient);
    expect(fromRows.gradient).toHaveLength(BATCH.embeddings.length);
    expect(fromRows.loss).toBeGreaterThan(0);
  });

  it('checks the options with the loss descriptor and names the bad one', async () => {
    await expect(computeLoss('NTXentLoss', embeddings, BATCH.labels, { temperature: 0 })).rejects.toThrow(/option 'temperature' must be a positive number, got 0/);
    await expect(computeLoss('CircleLoss', embeddings, BATCH.labels, { distance: 'l2' } as LossOptions)).rejects.toThrow(/option 'distance' is for .*; this training uses CircleLoss/);
    await expect(computeLoss('ContrastiveLoss', embeddings, BATCH.labels, { miner: 'TripletMarginMiner', minerEpsilon: 0.2 })).rejects.toThrow(
      /ContrastiveLoss has no option 'minerEpsilon'/,
    );
    await expect(computeLoss('Nope' as Loss, embeddings, BATCH.labels)).rejects.toThrow(/argument 'name': the loss must be one of TripletMarginLoss/);
    await expect(computeLoss('SupConLoss', embeddings, BATCH.labels, { dtype: 'float16' as 'float32' })).rejects.toThrow(/argument 'options': dtype must be/);
  });

  it('refuses embeddings that are not rows of dim and labels that do not match, naming the argument', async () => {
    await expect(computeLoss('SupConLoss', { ...embeddings, dim: 7 }, BATCH.labels)).rejects.toThrow(/argument 'embeddings': 288 values are not rows of 7/);
    await expect(computeLoss('SupConLoss', { ...embeddings, rows: 23 }, BATCH.labels)).rejects.toThrow(/argument 'embeddings': rows is 23 but data holds 24 rows/);
    await expect(computeLoss('SupConLoss', [new Float32Array(3), new Float32Array(2)], [0, 1])).rejects.toThrow(/argument 'embeddings': row 1 has 2 values, row 0 has 3/);
    await expect(computeLoss('SupConLoss', new Float32Array(6) as never, [0, 1])).rejects.toThrow(/argument 'embeddings' must be/);
    await expect(computeLoss('SupConLoss', embeddings, new Int32Array(3))).rejects.toThrow(/argument 'labelsOrGroups' has 3 entries for 24 rows/);
    await expect(computeLoss('SupConLoss', embeddings, new Float32Array(24))).rejects.toThrow(/argument 'labelsOrGroups': SupConLoss takes labels/);
    await expect(computeLoss('SupConLoss', embeddings, [0.5, ...Array.from(BATCH.labels).slice(1)])).rejects.toThrow(/argument 'labelsOrGroups': SupConLoss takes labels, integers/);
  });

  it('needs numClasses for a loss with class weights, and labels within it', async () => {
    await expect(computeLoss('ArcFaceLoss', embeddings, BATCH.labels)).rejects.toThrow(/ArcFaceLoss needs numClasses/);
    await expect(computeLoss('ProxyAnchorLoss', embeddings, BATCH.labels, { numClasses: 3 })).rejects.toThrow(/labels must be in 0 \.\. numClasses - 1 \(2\)/);
  });

  it('refuses a loss that needs the model (CLIP) with a clear error', async () => {
    await expect(computeLoss('CLIPLoss', [embeddings, embeddings], BATCH.labels)).rejects.toThrow(/CLIP/);
  });

  it("keeps the original finetuner's batch-hard miner (raw L2, mean of the mined hinges) as an option", async () => {
    const result = await computeLoss('TripletMarginLoss', embeddings, BATCH.labels, { miner: 'batch-hard', margin: 0.2 });
    expect(result.examples).toBe(24);
    expect(result.mined).toHaveLength(3);
  });
});

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

/** rows x dim embeddings around one random centre per class, so that miners find some pairs and not others. */
function clusteredBatch(rows: number, dim: number, classes: number, seed: number) {
  const draw = normals(seed);
  const centres = Array.from({ length: classes }, () => Array.from({ length: dim }, () => draw()));
  const labels = Int32Array.from({ length: rows }, (_, i) => (i * 7 + 3) % classes);
  const embeddings = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) for (let k = 0; k < dim; k++) embeddings[i * dim + k] = centres[labels[i]!]![k]! + 0.9 * draw();
  return { embeddings, labels, dim };
}

const BATCH = clusteredBatch(24, 12, 5, 20261203);

const LOSS_CASES: Case[] = [
  { title: 'TripletMarginLoss, all triplets, PML margin', loss: 'TripletMarginLoss', options: { miner: 'none', margin: 0.05 }, pml: { name: 'TripletMarginLoss', options: { margin: 0.05 } } },
  { title: 'TripletMarginLoss, cosine', loss: 'TripletMarginLoss', options: { miner: 'none', distance: 'cosine' }, pml: { name: 'TripletMarginLoss', options: { margin: 0.2 }, distance: 'cosine' } },
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
  ...(['all', 'hard', 'semihard', 'easy'] as const).map(
    (type): Case => ({
      title: `TripletMarginMiner (${type}) with TripletMarginLoss`,
      loss: 'TripletMarginLoss',
      options: { miner: 'TripletMarginMiner', minerType: type, minerMargin: 0.3, margin: 0.05 },
      pml: { name: 'TripletMarginLoss', options: { margin: 0.05 }, miner: { name: 'TripletMarginMiner', options: { margin: 0.3, type_of_triplets: type } } },
    }),
  ),
  {
    title: 'TripletMarginMiner (semihard, cosine) with NTXentLoss (triplets as pairs)',
    loss: 'NTXentLoss',
    options: { miner: 'TripletMarginMiner', minerType: 'semihard', minerDistance: 'cosine' },
    pml: { name: 'NTXentLoss', miner: { name: 'TripletMarginMiner', options: { type_of_triplets: 'semihard' }, distance: 'cosine' } },
  },
  {
    title: 'BatchHardMiner with TripletMarginLoss',
    loss: 'TripletMarginLoss',
    options: { miner: 'BatchHardMiner', margin: 0.05 },
    pml: { name: 'TripletMarginLoss', options: { margin: 0.05 }, miner: { name: 'BatchHardMiner' } },
  },
  {
    title: 'BatchHardMiner (cosine) with ContrastiveLoss',
    loss: 'ContrastiveLoss',
    options: { miner: 'BatchHardMiner', minerDistance: 'cosine' },
    pml: { name: 'ContrastiveLoss', miner: { name: 'BatchHardMiner', distance: 'cosine' } },
  },
  {
    title: 'BatchEasyHardMiner (easy, semihard) with ContrastiveLoss',
    loss: 'ContrastiveLoss',
    options: { miner: 'BatchEasyHardMiner' },
    pml: { name: 'ContrastiveLoss', miner: { name: 'BatchEasyHardMiner' } },
  },
  {
    title: 'BatchEasyHardMiner (semihard, hard) with MarginLoss (pairs as triplets)',
    loss: 'MarginLoss',
    options: { miner: 'BatchEasyHardMiner', minerPosStrategy: 'semihard', minerNegStrategy: 'hard' },
    pml: { name: 'MarginLoss', miner: { name: 'BatchEasyHardMiner', options: { pos_strategy: 'semihard', neg_strategy: 'hard' } } },
  },
  {
    title: 'BatchEasyHardMiner (all, hard) with SupConLoss',
    loss: 'SupConLoss',
    options: { miner: 'BatchEasyHardMiner', minerPosStrategy: 'all', minerNegStrategy: 'hard' },
    pml: { name: 'SupConLoss', miner: { name: 'BatchEasyHardMiner', options: { pos_strategy: 'all', neg_strategy: 'hard' } } },
  },
  {
    title: 'MultiSimilarityMiner with MultiSimilarityLoss',
    loss: 'MultiSimilarityLoss',
    options: { miner: 'MultiSimilarityMiner' },
    pml: { name: 'MultiSimilarityLoss', miner: { name: 'MultiSimilarityMiner' } },
  },
  {
    title: 'MultiSimilarityMiner (l2) with CircleLoss',
    loss: 'CircleLoss',
    options: { miner: 'MultiSimilarityMiner', minerDistance: 'l2', minerEpsilon: 0.3 },
    pml: { name: 'CircleLoss', miner: { name: 'MultiSimilarityMiner', options: { epsilon: 0.3 }, distance: 'l2' } },
  },
  {
    title: 'PairMarginMiner with ContrastiveLoss',
    loss: 'ContrastiveLoss',
    options: { miner: 'PairMarginMiner', minerPosMargin: 0.6, minerNegMargin: 1.1 },
    pml: { name: 'ContrastiveLoss', miner: { name: 'PairMarginMiner', options: { pos_margin: 0.6, neg_margin: 1.1 } } },
  },
  {
    title: 'PairMarginMiner (cosine) with LiftedStructureLoss',
    loss: 'LiftedStructureLoss',
    options: { miner: 'PairMarginMiner', minerDistance: 'cosine', minerPosMargin: 0.7, minerNegMargin: 0.2 },
    pml: { name: 'LiftedStructureLoss', miner: { name: 'PairMarginMiner', options: { pos_margin: 0.7, neg_margin: 0.2 }, distance: 'cosine' } },
  },
];

interface OracleLoss {
  loss: number;
  grad: number[][];
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

/** max |ours - reference| / max |reference| (absolute where the reference is all zeros). */
function relativeDifference(ours: ArrayLike<number>, reference: ArrayLike<number>): number {
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

/** The largest differences measured, printed at the end for the closing note. */
const measured: string[] = [];
afterAll(() => {
  if (measured.length) console.log(`largest relative differences to PML 2.8.1:\n${measured.join('\n')}`);
});

const available = existsSync(PML_SRC);
if (!available) console.log(`metric-losses.test.ts: skipped, the reference source is absent (${PML_SRC})`);

describe.skipIf(!available)('the pytorch-metric-learning losses and miners against pytorch-metric-learning 2.8.1', () => {
  const all = [...LOSS_CASES, ...MINER_CASES];
  let oracle: unknown[];

  beforeAll(() => {
    const embeddings = rows(BATCH.embeddings, BATCH.dim);
    const labels = Array.from(BATCH.labels);
    const lossCases = all.map((c) => ({ kind: 'loss', ...c.pml, miner: c.pml.miner ?? null, distance: c.pml.distance ?? null, embeddings, labels }));
    const minerCases = MINER_CASES.map((c) => ({ kind: 'miner', ...c.pml.miner!, distance: c.pml.miner!.distance ?? null, embeddings, labels }));
    oracle = runOracle([...lossCases, ...minerCases]);
  });

  it.each(all.map((c, i) => [c.title, i] as const))('%s: loss and gradient', async (title, i) => {
    const c = all[i]!;
    const reference = oracle[i] as OracleLoss;
    const result = await computeLoss(c.loss, { embeddings: BATCH.embeddings, dim: BATCH.dim, targets: BATCH.labels, options: c.options, dtype: 'float64' });
    const lossDiff = relativeDifference([result.loss], [reference.loss]);
    const gradDiff = relativeDifference(result.gradients[0]!, reference.grad.flat());
    measured.push(`${title}: loss ${lossDiff.toExponential(2)}, gradient ${gradDiff.toExponential(2)} (loss ${reference.loss.toPrecision(6)})`);
    expect(lossDiff).toBeLessThan(TOLERANCE);
    expect(gradDiff).toBeLessThan(TOLERANCE);
  });

  it.each(MINER_CASES.map((c, i) => [c.title, i] as const))('%s: the mined tuples', async (title, i) => {
    const c = MINER_CASES[i]!;
    const reference = oracle[all.length + i] as OracleMined;
    const result = await computeLoss(c.loss, { embeddings: BATCH.embeddings, dim: BATCH.dim, targets: BATCH.labels, options: c.options, dtype: 'float64' });
    const mined = minedRows(result);
    // Some tuples and not all: the case says something about the miner.
    const count = mined.tuples?.length ?? mined.pairs![0].length + mined.pairs![1].length;
    expect(count, title).toBeGreaterThan(0);
    expect(mined).toEqual(reference);
  });

  it('computes in float32 by default, close to the float64 result', async () => {
    const input = { embeddings: BATCH.embeddings, dim: BATCH.dim, targets: BATCH.labels };
    const single = await computeLoss('SupConLoss', input);
    const double = await computeLoss('SupConLoss', { ...input, dtype: 'float64' });
    expect(relativeDifference([single.loss], [double.loss])).toBeLessThan(1e-4);
    expect(relativeDifference(single.gradients[0]!, double.gradients[0]!)).toBeLessThan(1e-3);
  });
});

/** The losses with a weight per class: computeLoss's initial weights are handed to PML too. */
const CLASS_WEIGHT_CASES: (Case & { parameter: string })[] = [
  { title: 'ArcFaceLoss', loss: 'ArcFaceLoss', options: { numClasses: 5 }, parameter: 'W', pml: { name: 'ArcFaceLoss', options: { num_classes: 5, embedding_size: 12 } } },
  { title: 'ArcFaceLoss, margin 10, scale 16', loss: 'ArcFaceLoss', options: { numClasses: 5, margin: 10, scale: 16 }, parameter: 'W', pml: { name: 'ArcFaceLoss', options: { num_classes: 5, embedding_size: 12, margin: 10, scale: 16 } } },
  { title: 'CosFaceLoss', loss: 'CosFaceLoss', options: { numClasses: 5 }, parameter: 'W', pml: { name: 'CosFaceLoss', options: { num_classes: 5, embedding_size: 12 } } },
  { title: 'ProxyAnchorLoss', loss: 'ProxyAnchorLoss', options: { numClasses: 5 }, parameter: 'proxies', pml: { name: 'ProxyAnchorLoss', options: { num_classes: 5, embedding_size: 12 } } },
  {
    title: 'ProxyAnchorLoss with MultiSimilarityMiner (miner weights)',
    loss: 'ProxyAnchorLoss',
    options: { numClasses: 5, miner: 'MultiSimilarityMiner' },
    parameter: 'proxies',
    pml: { name: 'ProxyAnchorLoss', options: { num_classes: 5, embedding_size: 12 }, miner: { name: 'MultiSimilarityMiner' } },
  },
];

describe.skipIf(!available)('the losses with class weights against pytorch-metric-learning 2.8.1', () => {
  it.each(CLASS_WEIGHT_CASES.map((c, i) => [c.title, i] as const))('%s: loss, gradient and the weights\' gradient', async (title, i) => {
    const c = CLASS_WEIGHT_CASES[i]!;
    const result = await computeLoss(c.loss, { embeddings: BATCH.embeddings, dim: BATCH.dim, targets: BATCH.labels, options: c.options, dtype: 'float64' });
    const weights = result.parameters[c.parameter]!;
    const [reference] = runOracle([
      {
        kind: 'loss',
        ...c.pml,
        miner: c.pml.miner ?? null,
        distance: null,
        weights: { [c.parameter]: rows(weights.values, weights.shape[1]!) },
        embeddings: rows(BATCH.embeddings, BATCH.dim),
        labels: Array.from(BATCH.labels),
      },
    ]) as [OracleLoss & { weightGrads: Record<string, number[][]> }];
    const lossDiff = relativeDifference([result.loss], [reference.loss]);
    const gradDiff = relativeDifference(result.gradients[0]!, reference.grad.flat());
    const weightDiff = relativeDifference(weights.gradient, reference.weightGrads[c.parameter]!.flat());
    measured.push(`${title}: loss ${lossDiff.toExponential(2)}, gradient ${gradDiff.toExponential(2)}, ${c.parameter} gradient ${weightDiff.toExponential(2)}`);
    expect(lossDiff).toBeLessThan(TOLERANCE);
    expect(gradDiff).toBeLessThan(TOLERANCE);
    expect(weightDiff).toBeLessThan(TOLERANCE);
  });
});

describe('computeLoss', () => {
  const input = { embeddings: BATCH.embeddings, dim: BATCH.dim, targets: BATCH.labels };

  it('checks the options with the loss descriptor and names the bad one', async () => {
    await expect(computeLoss('NTXentLoss', { ...input, options: { temperature: 0 } })).rejects.toThrow(/option 'temperature' must be a positive number, got 0/);
    await expect(computeLoss('CircleLoss', { ...input, options: { distance: 'l2' } as LossOptions })).rejects.toThrow(/option 'distance' is for .*; this training uses CircleLoss/);
    await expect(computeLoss('ContrastiveLoss', { ...input, options: { miner: 'TripletMarginMiner', minerEpsilon: 0.2 } })).rejects.toThrow(
      /ContrastiveLoss has no option 'minerEpsilon'/,
    );
    await expect(computeLoss('Nope' as Loss, input)).rejects.toThrow(/loss must be one of TripletMarginLoss/);
  });

  it('refuses embeddings that are not rows of dim and labels that do not match', async () => {
    await expect(computeLoss('SupConLoss', { ...input, dim: 7 })).rejects.toThrow(/embeddings\[0\] has 288 values, not rows of 7/);
    await expect(computeLoss('SupConLoss', { ...input, targets: new Int32Array(3) })).rejects.toThrow(/targets has 3 entries for 24 rows/);
    await expect(computeLoss('SupConLoss', { ...input, targets: new Float32Array(24) })).rejects.toThrow(/SupConLoss takes labels/);
  });

  it('needs numClasses for a loss with class weights, and labels within it', async () => {
    await expect(computeLoss('ArcFaceLoss', input)).rejects.toThrow(/ArcFaceLoss needs numClasses/);
    await expect(computeLoss('ProxyAnchorLoss', { ...input, options: { numClasses: 3 } })).rejects.toThrow(/labels must be in 0 \.\. numClasses - 1 \(2\)/);
  });

  it('refuses a loss that needs the model (CLIP) with a clear error', async () => {
    await expect(computeLoss('CLIPLoss', { embeddings: [BATCH.embeddings, BATCH.embeddings], dim: BATCH.dim, targets: BATCH.labels })).rejects.toThrow(/CLIP/);
  });

  it('keeps fit()\'s TripletMarginLoss (batch-hard on raw L2, mean of the mined hinges) as its default', async () => {
    const result = await computeLoss('TripletMarginLoss', input);
    expect(result.examples).toBe(24);
    expect(result.mined).toHaveLength(3);
  });
});

// The sentence-transformers pair losses (issue 11): each loss's value and gradient against
// sentence-transformers' formulas written in PyTorch (test/reference/st_oracle.py, float64 on both
// sides) to 1e-5 relative; MatryoshkaLoss as the weighted sum of the inner loss on truncated embeddings;
// the option checks and CLI flags; GradCache (CachedMultipleNegativesRankingLoss) against the plain
// step on a tiny BERT; and a short fit() per loss.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBinding } from '../lib/addonLoader.js';
import type { NativeLossOptions } from '../lib/binding.js';
import { parseCommandArgs } from '../lib/cli/command.js';
import { fitCommand } from '../lib/cli/fit.js';
import { lossesHelp, readLossFlags } from '../lib/cli/lossOptions.js';
import { fit, loadModel, type EmbeddingModel } from '../lib/index.js';
import { lossDescriptor, resolveLossOptions, type Loss } from '../lib/losses/index.js';
import { writeBertTokenizer } from '../examples/tokenizers/wordpiece.js';
import { maxAbsDiff, PYTHON, random, REPO_ROOT, tempDir } from './helpers/fixtures.js';

const ORACLE = join(REPO_ROOT, 'test', 'reference', 'st_oracle.py');
const TOLERANCE = 1e-5;
const work = tempDir('pair-losses');
afterAll(() => work.cleanup());

/** rows x dim normal-ish draws, one Float32Array per input batch. */
function batches(count: number, rows: number, dim: number, seed: number): Float32Array[] {
  const draw = random(seed);
  return Array.from({ length: count }, () => Float32Array.from({ length: rows * dim }, () => draw() * 2 - 1 + draw() - 0.5));
}

const toRows = (array: Float32Array, dim: number) => Array.from({ length: array.length / dim }, (_, i) => Array.from(array.subarray(i * dim, (i + 1) * dim)));

interface OracleCase {
  title: string;
  loss: Loss;
  options: NativeLossOptions;
  inputs: number;
  targets: 'groups' | 'scores' | 'margins';
  matryoshka?: { dims: number[]; weights?: number[] };
}

const ROWS = 10;
const DIM = 8;

const CASES: OracleCase[] = [
  { title: 'MultipleNegativesRankingLoss', loss: 'MultipleNegativesRankingLoss', options: { scale: 20 }, inputs: 2, targets: 'groups' },
  { title: 'MultipleNegativesRankingLoss with hard negatives', loss: 'MultipleNegativesRankingLoss', options: { scale: 20 }, inputs: 3, targets: 'groups' },
  { title: 'CachedMultipleNegativesRankingLoss (mini-batches of 3)', loss: 'CachedMultipleNegativesRankingLoss', options: { scale: 20, miniBatchSize: 3 }, inputs: 3, targets: 'groups' },
  { title: 'MultipleNegativesSymmetricRankingLoss', loss: 'MultipleNegativesSymmetricRankingLoss', options: { scale: 20 }, inputs: 2, targets: 'groups' },
  { title: 'MultipleNegativesSymmetricRankingLoss, hard negatives, scale 7', loss: 'MultipleNegativesSymmetricRankingLoss', options: { scale: 7 }, inputs: 3, targets: 'groups' },
  { title: 'CoSENTLoss', loss: 'CoSENTLoss', options: { scale: 20 }, inputs: 2, targets: 'scores' },
  { title: 'CoSENTLoss, scale 5', loss: 'CoSENTLoss', options: { scale: 5 }, inputs: 2, targets: 'scores' },
  { title: 'AnglELoss', loss: 'AnglELoss', options: { scale: 20 }, inputs: 2, targets: 'scores' },
  { title: 'MarginMSELoss', loss: 'MarginMSELoss', options: {}, inputs: 3, targets: 'margins' },
  { title: 'CosineSimilarityLoss', loss: 'CosineSimilarityLoss', options: {}, inputs: 2, targets: 'scores' },
  { title: 'MatryoshkaLoss(CoSENTLoss), weighted', loss: 'CoSENTLoss', options: { scale: 20 }, inputs: 2, targets: 'scores', matryoshka: { dims: [8, 4, 2], weights: [1, 0.5, 0.25] } },
  { title: 'MatryoshkaLoss(MultipleNegativesRankingLoss)', loss: 'MultipleNegativesRankingLoss', options: { scale: 20 }, inputs: 3, targets: 'groups', matryoshka: { dims: [6, 3] } },
  { title: 'MatryoshkaLoss(MarginMSELoss)', loss: 'MarginMSELoss', options: {}, inputs: 3, targets: 'margins', matryoshka: { dims: [8, 4], weights: [2, 1] } },
];

/** Scores in [0, 1] with two ties (CoSENT leaves tied pairs out), margins in [-3, 3], distinct groups. */
function targetsOf(kind: OracleCase['targets'], seed: number): Int32Array | Float32Array {
  const draw = random(seed);
  if (kind === 'groups') return Int32Array.from({ length: ROWS }, (_, i) => i);
  if (kind === 'margins') return Float32Array.from({ length: ROWS }, () => draw() * 6 - 3);
  const scores = Float32Array.from({ length: ROWS }, () => Math.round(draw() * 20) / 20);
  scores[3] = scores[1]!;
  return scores;
}

describe('the pair losses against sentence-transformers (PyTorch oracle)', () => {
  const binding = loadBinding();
  const prepared = CASES.map((c, i) => {
    const embeddings = batches(c.inputs, ROWS, DIM, 100 + i);
    const targets = targetsOf(c.targets, 200 + i);
    return { ...c, embeddings, targets };
  });
  let oracle: Array<{ loss: number; grads: number[][][] }>;
  const measured: string[] = [];

  beforeAll(() => {
    const request = {
      cases: prepared.map((c) => ({
        name: c.loss,
        options: c.options,
        embeddings: c.embeddings.map((e) => toRows(e, DIM)),
        targets: Array.from(c.targets),
        matryoshka: c.matryoshka ?? null,
      })),
    };
    oracle = JSON.parse(execFileSync(PYTHON, [ORACLE], { input: JSON.stringify(request), maxBuffer: 1 << 26 }).toString()).results;
  });
  afterAll(() => console.log(`pair losses vs the oracle (max relative differences):\n${measured.join('\n')}`));

  it.each(prepared.map((c, i) => [c.title, i] as const))('%s: value and gradient', async (_title, i) => {
    const c = prepared[i]!;
    const options: NativeLossOptions = { ...c.options };
    if (c.matryoshka) {
      options.matryoshkaDims = c.matryoshka.dims;
      if (c.matryoshka.weights) options.matryoshkaWeights = c.matryoshka.weights;
    }
    const ours = await binding.computeLoss(c.loss, c.embeddings, DIM, c.targets, options, 'float64');
    const reference = oracle[i]!;
    const lossDiff = Math.abs(ours.loss - reference.loss) / Math.max(Math.abs(reference.loss), 1e-12);
    const expected = reference.grads.map((rows) => Float32Array.from(rows.flat()));
    const scale = Math.max(...expected.map((g) => Math.max(...g.map(Math.abs))));
    const gradDiff = Math.max(...ours.gradients.map((g, k) => maxAbsDiff(g, expected[k]!))) / scale;
    measured.push(`  ${c.title}: loss ${lossDiff.toExponential(1)}, gradient ${gradDiff.toExponential(1)} (of max |grad| ${scale.toPrecision(3)})`);
    expect(reference.loss).toBeGreaterThan(0);
    expect(scale).toBeGreaterThan(0);
    expect(lossDiff).toBeLessThan(TOLERANCE);
    expect(gradDiff).toBeLessThan(TOLERANCE);
  });

  it('MatryoshkaLoss is the weighted sum of the inner loss on each truncated, re-normalised width', async () => {
    const [first, second] = batches(2, ROWS, DIM, 7);
    const scores = targetsOf('scores', 8) as Float32Array;
    const truncate = (array: Float32Array, dim: number) =>
      Float32Array.from(
        toRows(array, DIM).flatMap((row) => {
          const head = row.slice(0, dim);
          const norm = Math.hypot(...head);
          return head.map((v) => v / norm);
        }),
      );
    const dims = [8, 4, 2];
    const weights = [1, 0.3, 2];
    let separately = 0;
    for (const [k, dim] of dims.entries()) {
      const inner = await binding.computeLoss('AnglELoss', [truncate(first!, dim), truncate(second!, dim)], dim, scores, { scale: 20 }, 'float64');
      separately += weights[k]! * inner.loss;
    }
    const wrapped = await binding.computeLoss('AnglELoss', [first!, second!], DIM, scores, { matryoshkaDims: dims, matryoshkaWeights: weights }, 'float64');
    // The truncated rows crossed as float32 here, in float64 inside the wrapper.
    expect(Math.abs(wrapped.loss - separately) / separately).toBeLessThan(1e-6);
    // The weights matter: all 1 is another value.
    const unweighted = await binding.computeLoss('AnglELoss', [first!, second!], DIM, scores, { matryoshkaDims: dims }, 'float64');
    expect(Math.abs(unweighted.loss - wrapped.loss)).toBeGreaterThan(1e-3);
    // AnglE needs an even width, truncated or not.
    await expect(binding.computeLoss('AnglELoss', [first!, second!], DIM, scores, { matryoshkaDims: [8, 5] }, 'float64')).rejects.toThrow(
      /AnglELoss needs embeddings of an even width .*got 5/,
    );
  });

  it('the native side refuses bad Matryoshka and GradCache options, naming them', async () => {
    const inputs = batches(2, 4, 4, 3);
    const scores = Float32Array.from([0.1, 0.2, 0.3, 0.4]);
    const run = (options: NativeLossOptions) => binding.computeLoss('CoSENTLoss', inputs, 4, scores, options, 'float32');
    await expect(run({ matryoshkaDims: [8] })).rejects.toThrow(/matryoshkaDims holds 8, more than .*width 4/);
    await expect(run({ matryoshkaDims: [4, 2], matryoshkaWeights: [1] })).rejects.toThrow(/one weight per dim .*\(2\), got 1/);
    await expect(run({ matryoshkaWeights: [1] })).rejects.toThrow(/matryoshkaWeights needs matryoshkaDims/);
    await expect(run({ matryoshkaDims: [2, 2] })).rejects.toThrow(/holds 2 twice/);
    await expect(run({ matryoshkaDims: 4 })).rejects.toThrow(/'matryoshkaDims' must be a list of numbers/);
    await expect(run({ miniBatchSize: 4 })).rejects.toThrow(/CoSENTLoss has no option 'miniBatchSize'/);
    const groups = Int32Array.from([0, 1, 2, 3]);
    await expect(binding.computeLoss('CachedMultipleNegativesRankingLoss', inputs, 4, groups, { miniBatchSize: 1.5 }, 'float32')).rejects.toThrow(
      /miniBatchSize must be a positive integer/,
    );
    await expect(binding.computeLoss('MarginMSELoss', inputs, 4, scores, {}, 'float32')).rejects.toThrow(/MarginMSELoss takes queries, positives and negatives/);
  });
});

describe('the pair loss descriptors and flags', () => {
  it('default, check and cross the options; Matryoshka for any loss, only when given', () => {
    expect(resolveLossOptions(lossDescriptor('CachedMultipleNegativesRankingLoss'), {})).toEqual({ scale: 20, miniBatchSize: 32 });
    expect(resolveLossOptions(lossDescriptor('MarginMSELoss'), {})).toEqual({});
    expect(resolveLossOptions(lossDescriptor('CoSENTLoss'), { matryoshkaDims: [32, 16] })).toEqual({ scale: 20, matryoshkaDims: [32, 16] });
    expect(resolveLossOptions(lossDescriptor('TripletMarginLoss'), { matryoshkaDims: [8], matryoshkaWeights: [2] })).toMatchObject({ matryoshkaDims: [8], matryoshkaWeights: [2] });
    expect(() => resolveLossOptions(lossDescriptor('CachedMultipleNegativesRankingLoss'), { miniBatchSize: 2.5 })).toThrow(
      /option 'miniBatchSize' must be a positive integer, got 2.5/,
    );
    expect(() => resolveLossOptions(lossDescriptor('CoSENTLoss'), { miniBatchSize: 4 })).toThrow(/'miniBatchSize' is for CachedMultipleNegativesRankingLoss; this training uses CoSENTLoss/);
    expect(() => resolveLossOptions(lossDescriptor('CoSENTLoss'), { matryoshkaDims: [] })).toThrow(/'matryoshkaDims' must be a non-empty array, each a positive integer/);
    expect(() => resolveLossOptions(lossDescriptor('CoSENTLoss'), { matryoshkaDims: [8, 0.5] })).toThrow(/'matryoshkaDims' must be a non-empty array/);
    expect(() => resolveLossOptions(lossDescriptor('CoSENTLoss'), { matryoshkaWeights: [1] })).toThrow(/'matryoshkaWeights' needs 'matryoshkaDims'/);
    expect(() => resolveLossOptions(lossDescriptor('CoSENTLoss'), { matryoshkaDims: [8, 4], matryoshkaWeights: [1] })).toThrow(/one weight per dim of 'matryoshkaDims' \(2\), got 1/);
    expect(() => resolveLossOptions(lossDescriptor('CoSENTLoss'), { matryoshkaDims: [8, 8] })).toThrow(/must not repeat a dim/);
    expect(() => resolveLossOptions(lossDescriptor('CoSENTLoss'), { matryoshkaDims: [8], matryoshkaWeights: [0] })).toThrow(/'matryoshkaWeights' must be a non-empty array, each a positive number/);
  });

  it('make CLI flags of the list options and the mini-batch size, and list MatryoshkaLoss in --help', () => {
    const args = parseCommandArgs(fitCommand, ['--model', 'm', '--train-data', 't', '--output-dir', 'o', '--matryoshka-dims', '64,32, 16', '--matryoshka-weights', '1,0.5,.25', '--mini-batch-size', '8']);
    expect(readLossFlags(args)).toMatchObject({ matryoshkaDims: [64, 32, 16], matryoshkaWeights: [1, 0.5, 0.25], miniBatchSize: 8 });
    const bad = parseCommandArgs(fitCommand, ['--model', 'm', '--train-data', 't', '--output-dir', 'o', '--matryoshka-dims', '64,x']);
    expect(() => readLossFlags(bad)).toThrow(/option --matryoshka-dims must be a comma-separated list, each a positive integer, got '64,x'/);
    const fractional = parseCommandArgs(fitCommand, ['--model', 'm', '--train-data', 't', '--output-dir', 'o', '--matryoshka-dims', '64,1.5']);
    expect(() => readLossFlags(fractional)).toThrow(/--matryoshka-dims must be a comma-separated list/);
    expect(lossesHelp()).toMatch(/MatryoshkaLoss \(wraps any loss\): --matryoshka-dims, --matryoshka-weights/);
    expect(lossesHelp()).toMatch(/MarginMSELoss: query-positive-negative triples with a teacher margin/);
  });
});

describe('GradCache and short fits on a tiny BERT', () => {
  let bertDir: string;
  const texts = Array.from({ length: 40 }, (_, i) => `item ${['red', 'blue', 'green', 'small', 'large'][i % 5]} thing number ${i} of the ${['sea', 'hill', 'town', 'wood'][i % 4]}`);

  beforeAll(async () => {
    const tokenizer = join(work.dir, 'tokenizer.json');
    await writeBertTokenizer(tokenizer, texts, { vocabSize: 300, lowercase: true });
    bertDir = join(work.dir, 'bert');
    execFileSync(PYTHON, [join(REPO_ROOT, 'scripts', 'export_torchscript'), 'bert-base-cased', '--out', bertDir, '--size', 'tiny', '--random-init', '--tokenizer', tokenizer], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  });

  /** Loads the tiny BERT: the projection head's init reseeds LibTorch's generator (seed 0). */
  const load = (seed = 0) => loadModel(bertDir, { precision: 'fp32', device: 'cpu', outputDim: 16, seed, maxLength: 16 });

  /** One step of `loss` on 8 pairs from a freshly loaded model; returns the loss and embeddings after it. */
  async function stepOnce(model: EmbeddingModel, loss: Loss, options: NativeLossOptions, freeze: 'none' | 'trunk') {
    model.nativeModel.configureTraining({ optimizer: 'sgd', learningRate: 0.5, weightDecay: 0, momentum: 0, freeze });
    const queries = model.tokenize(texts.slice(0, 8));
    const documents = model.tokenize(texts.slice(8, 16));
    const result = await model.nativeModel.trainStep([queries, documents], Int32Array.from({ length: 8 }, (_, i) => i), loss, options);
    return { loss: result.loss, after: (await model.encode(texts.slice(16, 24))).data };
  }

  it('CachedMultipleNegativesRankingLoss in mini-batches of 3 updates the weights as the plain loss (no dropout: frozen trunk)', async () => {
    const plainModel = await load();
    const plain = await stepOnce(plainModel, 'MultipleNegativesRankingLoss', { scale: 20 }, 'trunk');
        plainModel.dispose();
    const cachedModel = await load();
    const untouched = (await cachedModel.encode(texts.slice(16, 24))).data;
    const cached = await stepOnce(cachedModel, 'CachedMultipleNegativesRankingLoss', { scale: 20, miniBatchSize: 3 }, 'trunk');
    cachedModel.dispose();
    expect(Math.abs(cached.loss - plain.loss)).toBeLessThan(1e-5);
    expect(maxAbsDiff(cached.after, plain.after)).toBeLessThan(1e-6);
    // The step did move the weights.
    expect(maxAbsDiff(untouched, cached.after)).toBeGreaterThan(1e-3);
  });

  it('replays dropout: with dropout on, the cached step equals the plain one from the same random state, another state does not', async () => {
    const plainModel = await load();
    const plain = await stepOnce(plainModel, 'MultipleNegativesRankingLoss', { scale: 20 }, 'none');
    plainModel.dispose();
    const cachedModel = await load();
    const cached = await stepOnce(cachedModel, 'CachedMultipleNegativesRankingLoss', { scale: 20, miniBatchSize: 8 }, 'none');
    cachedModel.dispose();
    expect(Math.abs(cached.loss - plain.loss)).toBeLessThan(1e-5);
    expect(maxAbsDiff(cached.after, plain.after)).toBeLessThan(1e-6);
    // Dropout is on: the same model from another random state (another load reseeded it) steps elsewhere.
    const otherModel = await load();
    (await load(1)).dispose();
    const other = await stepOnce(otherModel, 'MultipleNegativesRankingLoss', { scale: 20 }, 'none');
    otherModel.dispose();
    expect(maxAbsDiff(other.after, plain.after)).toBeGreaterThan(1e-4);
  });

  it.each([
    ['MultipleNegativesSymmetricRankingLoss', 'pairs', {}],
    ['CachedMultipleNegativesRankingLoss', 'pairs', { miniBatchSize: 3 }],
    ['CoSENTLoss', 'scored', {}],
    ['AnglELoss', 'scored', {}],
    ['MarginMSELoss', 'margins', {}],
    ['MultipleNegativesRankingLoss', 'pairs', { matryoshkaDims: [16, 8, 4], matryoshkaWeights: [1, 1, 0.5] }],
  ] as const)('fit() with %s on %s data runs and changes the weights', async (loss, kind, options) => {
    const draw = random(loss.length);
    const rows = Array.from({ length: 12 }, (_, i) => [texts[i]!, texts[i + 12]!, texts[i + 24]!, (draw() * 4 - 2).toFixed(3)]);
    const csv = join(work.dir, `${loss}-${kind}.csv`);
    const header = kind === 'pairs' ? 'query,document' : kind === 'scored' ? 'text1,text2,score' : 'query,positive,negative,margin';
    const lines = rows.map((r) => (kind === 'pairs' ? `${r[0]},${r[1]}` : kind === 'scored' ? `${r[0]},${r[1]},${(draw()).toFixed(2)}` : r.join(',')));
    writeFileSync(csv, `${header}\n${lines.join('\n')}\n`);
    const model = await load();
    try {
      const before = (await model.encode(texts.slice(30, 36))).data;
      const { history } = await fit({ model, trainData: csv, loss, epochs: 1, batchSize: 6, learningRate: 1e-3, ...options });
      expect(history[0]!.steps).toBe(2);
      expect(Number.isFinite(history[0]!.loss)).toBe(true);
      expect(maxAbsDiff(before, (await model.encode(texts.slice(30, 36))).data)).toBeGreaterThan(1e-5);
    } finally {
      model.dispose();
    }
  });
});

// Losses and miners as units: the one list of loss descriptors (lib/losses/) is what fit(), the CLI and
// its --help accept, it names exactly the losses and miners the native registries hold, and the generic
// native training step computes each miner's triplets as a reference written here does.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandHelp, parseCommandArgs } from '../lib/cli/command.js';
import { fitCommand } from '../lib/cli/fit.js';
import { readLossFlags } from '../lib/cli/lossOptions.js';
import { fit, loadModel, runtimeInfo, type EmbeddingModel } from '../lib/index.js';
import { LOSS_NAMES, LOSSES, lossDescriptor, MINER_NAMES, resolveLossOptions, type Miner } from '../lib/losses/index.js';
import { exportTiny, syntheticImages, tempDir } from './helpers/fixtures.js';

const work = tempDir('losses');
const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
let resnetDir: string;

beforeAll(() => {
  resnetDir = exportTiny('resnet50', join(work.dir, 'resnet50-tiny'));
});
afterAll(() => work.cleanup());

describe('the loss descriptors', () => {
  it('fit accepts every loss of the Loss type, CLIPLoss included (it was refused as not one of three)', async () => {
    const missing = join(work.dir, 'no-model');
    for (const loss of LOSS_NAMES) {
      // The loss passes the option checks; what fails is the missing model directory.
      await expect(fit({ model: missing, trainData: 'train.csv', loss })).rejects.toThrow(/finetuner\.json not found/);
    }
    await expect(fit({ model: missing, trainData: 'train.csv', loss: 'FaceLoss' as 'CLIPLoss' })).rejects.toThrow(
      new RegExp(`option 'loss' must be one of ${LOSS_NAMES.join(', ')}, got "FaceLoss"`),
    );
  });

  it('name exactly the losses and miners the native registries hold', () => {
    const info = runtimeInfo();
    expect([...LOSS_NAMES].sort()).toEqual(info.losses);
    expect([...MINER_NAMES].sort()).toEqual(info.miners);
  });

  it('give each loss its options with defaults, check ranges and refuse another loss\'s options', () => {
    expect(resolveLossOptions(lossDescriptor('TripletMarginLoss'), {})).toEqual({ margin: 0.05, miner: 'none', distance: 'l2' });
    expect(resolveLossOptions(lossDescriptor('TripletMarginLoss'), { margin: 0.5, miner: 'all' })).toEqual({ margin: 0.5, miner: 'all', distance: 'l2' });
    // A miner's options cross only when given.
    expect(resolveLossOptions(lossDescriptor('ContrastiveLoss'), { miner: 'PairMarginMiner', minerPosMargin: 0.1 })).toEqual({
      posMargin: 0,
      negMargin: 1,
      miner: 'PairMarginMiner',
      distance: 'l2',
      minerPosMargin: 0.1,
    });
    expect(resolveLossOptions(lossDescriptor('NTXentLoss'), {})).toEqual({ temperature: 0.07, miner: 'none', distance: 'cosine' });
    expect(resolveLossOptions(lossDescriptor('SupConLoss'), {})).toEqual({ temperature: 0.1, miner: 'none', distance: 'cosine' });
    expect(resolveLossOptions(lossDescriptor('MultipleNegativesRankingLoss'), {})).toEqual({ scale: 20 });
    expect(resolveLossOptions(lossDescriptor('CosineSimilarityLoss'), {})).toEqual({});
    expect(resolveLossOptions(lossDescriptor('CLIPLoss'), { learningRate: 1 })).toEqual({});
    expect(() => resolveLossOptions(lossDescriptor('TripletMarginLoss'), { margin: -1 })).toThrow(/option 'margin' must be a positive number, got -1/);
    expect(() => resolveLossOptions(lossDescriptor('TripletMarginLoss'), { miner: 'hardest' })).toThrow(
      /option 'miner' must be one of none, batch-hard, semi-hard, all, TripletMarginMiner, BatchHardMiner, .*, got "hardest"/,
    );
    expect(() => resolveLossOptions(lossDescriptor('MultipleNegativesRankingLoss'), { scale: Number.NaN })).toThrow(/'scale' must be a positive number/);
    expect(() => resolveLossOptions(lossDescriptor('CLIPLoss'), { miner: 'all' })).toThrow(/option 'miner' is for TripletMarginLoss and ContrastiveLoss and .*; this training uses CLIPLoss/);
  });

  it('make the CLI flags, their parsing and the --help listing', () => {
    const help = commandHelp(fitCommand);
    for (const loss of LOSSES) {
      expect(help).toContain(`  ${loss.name}: `);
      // A flag shared by several losses lists them, and each one's default where they differ.
      for (const option of loss.options) {
        const line = help.split('\n').find((text) => text.trimStart().startsWith(`--${kebab(option.name)} `));
        expect(line, option.name).toMatch(new RegExp(` ([A-Za-z]+, )*${loss.name}[,:]`));
        // One default for every loss, or this loss's among several: "0.05 (TripletMarginLoss), 0.2 (MarginLoss)".
        const value = String(option.default).replace('.', '\\.');
        expect(line, option.name).toMatch(new RegExp(`\\(default: (${value}\\)$|.*\\b${value} \\(([A-Za-z]+, )*${loss.name}[,)])`));
      }
    }
    const args = parseCommandArgs(fitCommand, ['--model', 'm', '--train-data', 't', '--output-dir', 'o', '--miner', 'semi-hard', '--scale', '10']);
    expect(readLossFlags(args)).toEqual({ margin: undefined, miner: 'semi-hard', scale: 10 });
    const bad = parseCommandArgs(fitCommand, ['--model', 'm', '--train-data', 't', '--output-dir', 'o', '--miner', 'hardest']);
    expect(() => readLossFlags(bad)).toThrow(/option --miner must be one of none, batch-hard, semi-hard, all, TripletMarginMiner, .*, got 'hardest'/);
  });
});

/** Triplets of a miner, written out loop by loop: the reference for the native miners. */
function referenceTripletLoss(embeddings: Float32Array, dim: number, labels: Int32Array, miner: Miner, margin: number) {
  const n = labels.length;
  const d = (i: number, j: number) => {
    let sum = 0;
    for (let k = 0; k < dim; k++) sum += (embeddings[i * dim + k]! - embeddings[j * dim + k]!) ** 2;
    return Math.sqrt(sum);
  };
  const positive = (a: number, p: number) => a !== p && labels[a] === labels[p];
  const negative = (a: number, x: number) => labels[a] !== labels[x];
  const hinges: number[] = [];
  for (let a = 0; a < n; a++) {
    if (miner === 'batch-hard') {
      let farthest = -Infinity;
      let nearest = Infinity;
      for (let x = 0; x < n; x++) {
        if (positive(a, x)) farthest = Math.max(farthest, d(a, x));
        if (negative(a, x)) nearest = Math.min(nearest, d(a, x));
      }
      if (farthest > -Infinity && nearest < Infinity) hinges.push(Math.max(0, farthest - nearest + margin));
      continue;
    }
    for (let p = 0; p < n; p++) {
      if (!positive(a, p)) continue;
      let nearestSemiHard = Infinity;
      for (let x = 0; x < n; x++) {
        if (!negative(a, x)) continue;
        const hinge = d(a, p) - d(a, x) + margin;
        if (miner === 'all' && hinge > 0) hinges.push(hinge);
        if (miner === 'semi-hard' && d(a, x) > d(a, p) && hinge > 0) nearestSemiHard = Math.min(nearestSemiHard, d(a, x));
      }
      if (miner === 'semi-hard' && nearestSemiHard < Infinity) hinges.push(d(a, p) - nearestSemiHard + margin);
    }
  }
  return { loss: hinges.length ? hinges.reduce((s, h) => s + h, 0) / hinges.length : 0, examples: hinges.length };
}

describe('the generic native training step', () => {
  let model: EmbeddingModel;
  beforeAll(async () => {
    model = await loadModel(resnetDir, { precision: 'fp32', device: 'cpu', outputDim: 8, imageSize: 32 });
  });
  afterAll(() => model?.dispose());

  // The original finetuner's miners (the PML ones are checked against PML in metric-losses.test.ts).
  it.each(['batch-hard', 'semi-hard', 'all'] as const)('TripletMarginLoss with the %s miner: the loss and triplet count of the reference', async (miner) => {
    // A frozen trunk keeps BatchNorm in inference mode, so the training forward equals encode's.
    model.nativeModel.configureTraining({ optimizer: 'sgd', learningRate: 1e-9, weightDecay: 0, momentum: 0, freeze: 'trunk' });
    const items = syntheticImages(4, 4, 32, 11);
    const batch = await model.loadImages(items.map((item) => item.image));
    const labels = Int32Array.from(items, (_, i) => Math.floor(i / 4));
    const embeddings = await model.nativeModel.encode(batch);
    const margin = 0.5;
    const expected = referenceTripletLoss(embeddings, 8, labels, miner, margin);
    const result = await model.nativeModel.trainStep([batch], labels, 'TripletMarginLoss', { margin, miner });
    expect(expected.examples).toBeGreaterThan(0);
    expect(result.examples).toBe(expected.examples);
    expect(result.loss).toBeCloseTo(expected.loss, 4);
  });

  it('refuses an unknown loss, an option the loss does not take, and targets or batches it does not take', async () => {
    const native = model.nativeModel;
    native.configureTraining({ optimizer: 'sgd', learningRate: 1e-9, weightDecay: 0, momentum: 0, freeze: 'none' });
    const batch = await model.loadImages(syntheticImages(2, 2, 32, 3).map((item) => item.image));
    const labels = Int32Array.from([0, 0, 1, 1]);
    expect(() => native.trainStep([batch], labels, 'FaceLoss')).toThrow(
      new RegExp(`unknown loss 'FaceLoss': use ${[...LOSS_NAMES].sort().join(', ')}`),
    );
    expect(() => native.trainStep([], labels, 'TripletMarginLoss')).toThrow(/needs an array of input batches/);
    expect(() => native.trainStep([batch], Int32Array.from([0, 1]), 'TripletMarginLoss')).toThrow(/targets has 2 entries for 4 rows/);
    expect(() => native.trainStep([batch], labels, 'TripletMarginLoss', { margin: true as unknown as number })).toThrow(/lossOptions.margin must be a number or a string/);
    await expect(native.trainStep([batch], labels, 'TripletMarginLoss', { scale: 20 })).rejects.toThrow(/TripletMarginLoss has no option 'scale'/);
    await expect(native.trainStep([batch], labels, 'TripletMarginLoss', { miner: 'hardest' })).rejects.toThrow(
      new RegExp(`unknown miner 'hardest': use ${[...MINER_NAMES].sort().join(', ')}`),
    );
    await expect(native.trainStep([batch], labels, 'TripletMarginLoss', { margin: 'wide' })).rejects.toThrow(/loss option 'margin' must be a number/);
    await expect(native.trainStep([batch], Float32Array.from([0, 0, 1, 1]), 'TripletMarginLoss')).rejects.toThrow(/TripletMarginLoss takes labels \(an Int32Array\)/);
    await expect(native.trainStep([batch], labels, 'CosineSimilarityLoss')).rejects.toThrow(/CosineSimilarityLoss takes two batches/);
    await expect(native.trainStep([batch, batch], labels, 'CosineSimilarityLoss')).rejects.toThrow(/CosineSimilarityLoss takes scores/);
    await expect(native.trainStep([batch, batch], labels, 'CLIPLoss')).rejects.toThrow(/CLIPLoss is for CLIP \(text-to-image\) models/);
    // After all that, a good step still runs.
    const { examples } = await native.trainStep([batch], labels, 'TripletMarginLoss');
    expect(examples).toBeGreaterThan(0);
  });

  it('trains the class weights of ArcFaceLoss with the model\'s optimizer, at lossLearningRate', async () => {
    const items = syntheticImages(4, 4, 32, 11);
    const batch = await model.loadImages(items.map((item) => item.image));
    const labels = Int32Array.from(items, (_, i) => Math.floor(i / 4));
    // The model barely moves (1e-9): what lowers the loss between two steps on one batch is the weights.
    const twoSteps = async (lossLearningRate: number) => {
      model.nativeModel.configureTraining({ optimizer: 'sgd', learningRate: 1e-9, weightDecay: 0, momentum: 0, freeze: 'trunk' });
      const options = { numClasses: 4, lossLearningRate, scale: 16 };
      const first = await model.nativeModel.trainStep([batch], labels, 'ArcFaceLoss', options);
      const second = await model.nativeModel.trainStep([batch], labels, 'ArcFaceLoss', options);
      return [first.loss, second.loss] as const;
    };
    const [before, after] = await twoSteps(0.5);
    expect(after).toBeLessThan(before - 0.01);
    const [still, stillAfter] = await twoSteps(1e-9);
    // The same seeded weights at the start (the head moved by about 1e-9 x its gradient in the first run).
    expect(still).toBeCloseTo(before, 3);
    // Within float32 noise of a loss near 10 (the model and weights moved by about 1e-9 x their gradients).
    expect(stillAfter).toBeCloseTo(still, 4);
  });

  it.each(['SupConLoss', 'ProxyAnchorLoss'] as const)('fit trains labelled images with %s', async (loss) => {
    const result = await fit({ model, trainData: syntheticImages(4, 4, 32, 5), loss, epochs: 1, batchSize: 8, learningRate: 1e-5 });
    expect(result.history).toHaveLength(1);
    expect(Number.isFinite(result.history[0]!.loss)).toBe(true);
    expect(result.history[0]!.examples).toBeGreaterThan(0);
  });

  it('fit refuses an option of another loss than the one the data trains with', async () => {
    await expect(fit({ model, trainData: syntheticImages(2, 4, 32, 5), epochs: 1, batchSize: 8, scale: 10 })).rejects.toThrow(
      /option 'scale' is for ArcFaceLoss and CosFaceLoss and .*; this training uses TripletMarginLoss/,
    );
  });
});

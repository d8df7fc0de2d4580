// fit() with a loss that holds a weight per class (ArcFaceLoss): numClasses comes from the training
// data's labels, a short run trains (the loss falls), and the schedule scales the weights' own rate
// (lossLearningRate) as it scales the model's.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fit, type FitOptions } from '../lib/index.js';
import { exportTiny, syntheticImages, tempDir } from './helpers/fixtures.js';

const work = tempDir('class-weights');
let backbone: string;

beforeAll(() => {
  backbone = exportTiny('resnet50', join(work.dir, 'resnet50-tiny'));
});
afterAll(() => work.cleanup());

/** Epoch losses of a short fit() on 4 labelled classes; the model it loaded is disposed. */
async function epochLosses(options: Partial<FitOptions>): Promise<number[]> {
  const { model, history } = await fit({
    model: backbone,
    trainData: syntheticImages(4, 8, 32, 1),
    imageSize: 32,
    outputDim: 16,
    epochs: 4,
    batchSize: 16,
    numItemsPerClass: 4,
    seed: 3,
    ...options,
  });
  model.dispose();
  return history.map((epoch) => epoch.loss);
}

describe('fit() with ArcFaceLoss', () => {
  it('takes numClasses from the labels and trains: the loss falls', async () => {
    const losses = await epochLosses({ loss: 'ArcFaceLoss', learningRate: 1e-3 });
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.8);
  });

  it("scales the class weights' rate with the schedule: with the model all but frozen, a long warm-up slows the fall", async () => {
    // learningRate 1e-9 leaves the model as it is: what falls is the class weights' doing, at
    // lossLearningRate 0.05, or at about 1/200 of it during a warm-up of 1,000 steps.
    const constant = await epochLosses({ loss: 'ArcFaceLoss', learningRate: 1e-9, lossLearningRate: 0.05 });
    const warmingUp = await epochLosses({ loss: 'ArcFaceLoss', learningRate: 1e-9, lossLearningRate: 0.05, warmupSteps: 1000 });
    expect(constant[0]! - constant.at(-1)!).toBeGreaterThan(0.1 * constant[0]!);
    expect(warmingUp[0]! - warmingUp.at(-1)!).toBeLessThan(0.1 * (constant[0]! - constant.at(-1)!));
  });

  it('refuses numClasses below the number of labels, naming the option', async () => {
    await expect(epochLosses({ loss: 'ArcFaceLoss', numClasses: 3 })).rejects.toThrow(/option 'numClasses' is 3 but trainData has 4 labels/);
  });
});

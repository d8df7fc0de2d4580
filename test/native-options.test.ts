// Numbers that reach native code through the raw binding (issue 10, the smaller items): before the fix an
// infinite learning rate, a NaN gemP or a std of 0 were accepted and every embedding or weight became NaN
// or infinite. Each is now refused where it enters, naming the option.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBinding } from '../lib/addonLoader.js';
import { exportTiny, tempDir } from './helpers/fixtures.js';

const work = tempDir('native-options');
let backbone: string;
let meta: { trunk: string[]; embeddingDim: number; preprocessing: { mean: number[]; std: number[] } };
beforeAll(() => {
  backbone = exportTiny('resnet50', join(work.dir, 'resnet50-tiny'));
  meta = JSON.parse(readFileSync(join(backbone, 'finetuner.json'), 'utf8'));
});
afterAll(() => work.cleanup());

const build = (overrides: Record<string, unknown>) => loadBinding().buildFromBackbone(join(backbone, 'model.pt'), {
  device: 'cpu', modality: 'image', trunk: meta.trunk, pooling: 'gem', gemP: 3, embeddingDim: meta.embeddingDim, outputDim: 0,
  normalize: true, mean: meta.preprocessing.mean, std: meta.preprocessing.std, seed: 1, ...overrides,
} as never);

describe('raw binding: numeric options that would give NaN', () => {
  it('refuses a NaN or non-positive gemP, a std of 0 and a non-finite mean', async () => {
    await expect(build({ gemP: Number.NaN })).rejects.toThrow(/gemP must be a finite positive number, got nan/);
    await expect(build({ gemP: 0 })).rejects.toThrow(/gemP must be a finite positive number/);
    await expect(build({ std: [0.2, 0, 0.2] })).rejects.toThrow(/std must hold finite positive numbers, got 0/);
    await expect(build({ mean: [0.5, Number.POSITIVE_INFINITY, 0.5] })).rejects.toThrow(/mean must hold finite numbers/);
    const model = await build({});
    expect(model.outputDim).toBe(meta.embeddingDim);
    model.dispose();
  });

  it('refuses an infinite learning rate, weight decay or a momentum of 1', async () => {
    const model = await build({});
    const base = { optimizer: 'sgd', learningRate: 1e-3, weightDecay: 0, momentum: 0.9, freeze: 'none' };
    expect(() => model.configureTraining({ ...base, learningRate: Number.POSITIVE_INFINITY } as never)).toThrow(/learningRate must be a finite positive number, got inf/);
    expect(() => model.configureTraining({ ...base, weightDecay: Number.NaN } as never)).toThrow(/weightDecay must be a finite number >= 0/);
    expect(() => model.configureTraining({ ...base, momentum: 1 } as never)).toThrow(/momentum must be in \[0, 1\)/);
    expect(() => model.configureTraining(base as never)).not.toThrow();
    expect(() => model.setLearningRate(Number.POSITIVE_INFINITY)).toThrow(/learningRate must be positive/);
    model.dispose();
  });
});

describe('imageSize', () => {
  it('is bounded before any memory is spent (20,000 px used to grow to 16.6 GB)', async () => {
    const { loadModel } = await import('../lib/index.js');
    const started = Date.now();
    await expect(loadModel(backbone, { precision: 'fp32', imageSize: 20_000 })).rejects.toThrow(/option 'imageSize' must be an integer in \[1, 4096\], got 20000/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

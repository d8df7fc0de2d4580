// The addon end to end on tiny exported backbones: head removal and pooling checked against Python,
// a fine-tune that improves retrieval on held-out images, save / reload / Python parity, and the
// event loop staying responsive while a training step runs.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate, fit, loadModel, runtimeInfo, type EmbeddingModel } from '../lib/index.js';
import { exportTiny, maxAbsDiff, PYTHON, readFloats, syntheticImages, tempDir } from './helpers/fixtures.js';

const work = tempDir('model');
let resnetDir: string;
let efficientnetDir: string;

beforeAll(() => {
  resnetDir = exportTiny('resnet50', join(work.dir, 'resnet50-tiny'));
  efficientnetDir = exportTiny('efficientnet_b0', join(work.dir, 'efficientnet_b0-tiny'));
});
afterAll(() => work.cleanup());

/** Pixels of a batch of synthetic images at the model's input size, as uint8 NHWC. */
async function pixelBatch(model: EmbeddingModel, count: number, seed: number) {
  const images = syntheticImages(count, 1, model.preprocessing.crop, seed).map((item) => item.image);
  return model.loadImages(images);
}

// Runs the backbone's own trunk children in Python and pools there: the reference for what the addon
// must compute after removing the head.
function pythonPooled(backboneDir: string, pixelsFile: string, shape: number[], trunk: string[], pooling: string): Float32Array {
  const out = join(work.dir, `expected-${pooling}.bin`);
  const script = `
import sys, json, numpy as np, torch
m = torch.jit.load(sys.argv[1]).eval()
n, h, w = ${shape[0]}, ${shape[1]}, ${shape[2]}
px = torch.from_numpy(np.fromfile(sys.argv[2], dtype=np.uint8).reshape(n, h, w, 3))
meta = json.load(open(sys.argv[1].replace('model.pt', 'finetuner.json')))
mean = torch.tensor(meta['preprocessing']['mean']).view(1, 3, 1, 1)
std = torch.tensor(meta['preprocessing']['std']).view(1, 3, 1, 1)
x = (px.permute(0, 3, 1, 2).float() / 255.0 - mean) / std
with torch.no_grad():
    for name in ${JSON.stringify(trunk)}:
        x = getattr(m, name)(x)
    pooling = sys.argv[3]
    if pooling == 'avg':
        x = x.mean((2, 3))
    elif pooling == 'max':
        x = x.amax((2, 3))
    else:
        x = x.clamp(min=1e-6).pow(3.0).mean((2, 3)).pow(1.0 / 3.0)
x.numpy().astype(np.float32).tofile(sys.argv[4])
`;
  execFileSync(PYTHON, ['-c', script, join(backboneDir, 'model.pt'), pixelsFile, pooling, out]);
  return readFloats(out);
}

describe('head removal and pooling', () => {
  for (const [family, dir] of [
    ['resnet', () => resnetDir],
    ['efficientnet', () => efficientnetDir],
  ] as const) {
    for (const pooling of ['avg', 'max', 'gem'] as const) {
      it(`${family}: ${pooling} pooling of the trunk matches Python`, async () => {
        const model = await loadModel(dir(), { precision: 'fp32', device: 'cpu', pooling, normalize: false });
        try {
          const meta = model.metadata.backbone;
          expect(model.outputDim).toBe(meta.embeddingDim);
          const batch = await pixelBatch(model, 3, 11);
          const pixelsFile = join(work.dir, `pixels-${family}-${pooling}.bin`);
          writeFileSync(pixelsFile, batch.pixels);
          const ours = await model.encodeBatch(batch);
          const expected = pythonPooled(dir(), pixelsFile, [batch.rows, batch.height, batch.width], meta.trunk, pooling);
          expect(maxAbsDiff(ours, expected)).toBeLessThan(1e-4);
        } finally {
          model.dispose();
        }
      });
    }
  }

  it('adds a projection head and L2-normalises', async () => {
    const model = await loadModel(resnetDir, { precision: 'fp32', device: 'cpu', outputDim: 16 });
    try {
      expect(model.outputDim).toBe(16);
      const { rows, dim, data } = await model.encode((await syntheticImages(4, 1, 40, 3)).map((i) => i.image));
      expect([rows, dim]).toEqual([4, 16]);
      for (let r = 0; r < rows; r++) {
        let norm = 0;
        for (let d = 0; d < dim; d++) norm += data[r * dim + d]! ** 2;
        expect(Math.sqrt(norm)).toBeCloseTo(1, 5);
      }
      const counts = model.parameterCount();
      // The tiny backbone without its fc head, plus the 512 x 16 projection and its bias.
      expect(counts.total).toBe(model.metadata.backbone.parameters.withoutHead + 512 * 16 + 16);
    } finally {
      model.dispose();
    }
  });
});

describe('fine-tuning', () => {
  const train = syntheticImages(8, 16, 32, 1);
  const heldOut = syntheticImages(8, 8, 32, 2);

  it('improves retrieval on held-out images, and the saved model loads in Python with the same embeddings', async () => {
    const model = await loadModel(resnetDir, { precision: 'fp32', device: 'cpu', outputDim: 32, imageSize: 32 });
    const out = join(work.dir, 'fine-tuned');
    try {
      const before = await evaluate(model, { queries: heldOut, k: 5 });
      const { history } = await fit({
        model,
        trainData: train,
        epochs: 4,
        batchSize: 16,
        numItemsPerClass: 4,
        learningRate: 1e-3,
        outputDir: out,
      });
      const after = await evaluate(model, { queries: heldOut, k: 5 });
      expect(history).toHaveLength(4);
      expect(history.every((epoch) => Number.isFinite(epoch.loss) && epoch.steps === 8)).toBe(true);
      expect(after.map).toBeGreaterThan(before.map + 0.05);
      expect(after.precisionAtK).toBeGreaterThan(before.precisionAtK);

      expect(readdirSync(out).sort()).toEqual(['finetuner.json', 'model.pt', 'report.html']);
      const saved = JSON.parse(readFileSync(join(out, 'finetuner.json'), 'utf8'));
      expect(saved.format).toBe('finetuner-embedding');
      expect(saved.outputDim).toBe(32);
      expect(saved.training.history).toHaveLength(4);

      // Reload in Node: identical embeddings.
      const batch = await model.loadImages(heldOut.slice(0, 6).map((i) => i.image));
      const original = await model.encodeBatch(batch);
      const reloaded = await loadModel(out, { precision: 'fp32', device: 'cpu' });
      try {
        expect(maxAbsDiff(await reloaded.encodeBatch(batch), original)).toBeLessThan(1e-6);
      } finally {
        reloaded.dispose();
      }

      // Plain Python, no package of ours: torch.jit.load and the module's method.
      const pixelsFile = join(work.dir, 'parity-pixels.bin');
      const pythonOut = join(work.dir, 'parity-python.bin');
      writeFileSync(pixelsFile, batch.pixels);
      execFileSync(PYTHON, [
        '-c',
        `import sys, numpy as np, torch
m = torch.jit.load(sys.argv[1])
px = torch.from_numpy(np.fromfile(sys.argv[2], dtype=np.uint8).reshape(${batch.rows}, ${batch.height}, ${batch.width}, 3))
with torch.no_grad():
    m.encode_pixels(px).numpy().astype(np.float32).tofile(sys.argv[3])`,
        join(out, 'model.pt'),
        pixelsFile,
        pythonOut,
      ]);
      expect(maxAbsDiff(readFloats(pythonOut), original)).toBeLessThan(1e-4);
    } finally {
      model.dispose();
    }
  });

  it('freezes the trunk: only the projection head trains', async () => {
    const model = await loadModel(resnetDir, { precision: 'fp32', device: 'cpu', outputDim: 8, imageSize: 32 });
    try {
      await fit({ model, trainData: train.slice(0, 32), epochs: 1, batchSize: 8, numItemsPerClass: 4, freeze: true });
      expect(model.parameterCount().trainable).toBe(512 * 8 + 8);
    } finally {
      model.dispose();
    }
  });

  it('keeps the event loop responsive while a training step runs', async () => {
    const model = await loadModel(resnetDir, { precision: 'fp32', device: 'cpu', imageSize: 64 });
    try {
      model.nativeModel.configureTraining({
        optimizer: 'sgd', learningRate: 1e-3, weightDecay: 0, momentum: 0.9, freeze: 'none',
      });
      const batch = await model.loadImages(syntheticImages(8, 4, 64, 5).map((i) => i.image));
      const labels = Int32Array.from({ length: 32 }, (_, i) => Math.floor(i / 4));
      let worstLag = 0;
      let last = performance.now();
      const timer = setInterval(() => {
        const now = performance.now();
        worstLag = Math.max(worstLag, now - last - 5);
        last = now;
      }, 5);
      const started = performance.now();
      for (let i = 0; i < 3; i++) await model.nativeModel.trainStep([batch], labels, 'TripletMarginLoss', { margin: 0.2, miner: 'batch-hard' });
      const elapsed = performance.now() - started;
      clearInterval(timer);
      // The steps must take long enough for the measurement to mean something.
      expect(elapsed).toBeGreaterThan(100);
      expect(worstLag).toBeLessThan(50);
    } finally {
      model.dispose();
    }
  });
});

// CI has no GPU: this runs where LibTorch sees CUDA (scripts/gpu-check on the GPU machine) and is
// reported as skipped elsewhere.
describe.skipIf(!runtimeInfo().cudaAvailable)('CUDA', () => {
  it('encodes and trains on the GPU with the same embeddings as the CPU', async () => {
    const cpu = await loadModel(resnetDir, { precision: 'fp32', device: 'cpu', outputDim: 8 });
    const gpu = await loadModel(resnetDir, { precision: 'fp32', device: 'cuda', outputDim: 8 });
    try {
      expect(gpu.device).toBe('cuda');
      const batch = await pixelBatch(cpu, 4, 21);
      expect(maxAbsDiff(await gpu.encodeBatch(batch), await cpu.encodeBatch(batch))).toBeLessThan(1e-3);
      await fit({ model: gpu, trainData: syntheticImages(4, 8, 32, 1), epochs: 1, batchSize: 16, numItemsPerClass: 4 });
    } finally {
      cpu.dispose();
      gpu.dispose();
    }
  });
});

describe('lifetime and bad input', () => {
  it('dispose is safe twice and later calls throw', async () => {
    const model = await loadModel(resnetDir, { precision: 'fp32', device: 'cpu' });
    model.dispose();
    model.dispose();
    expect(model.disposed).toBe(true);
    await expect(model.encode([Buffer.from('x')])).rejects.toThrow(/disposed/);
  });

  it('rejects a corrupt model.pt with an error naming the file', async () => {
    const { dir, cleanup } = tempDir('corrupt');
    try {
      writeFileSync(join(dir, 'finetuner.json'), readFileSync(join(resnetDir, 'finetuner.json')));
      writeFileSync(join(dir, 'model.pt'), 'this is not a TorchScript archive');
      await expect(loadModel(dir, { precision: 'fp32', device: 'cpu' })).rejects.toThrow(new RegExp(`${join(dir, 'model.pt')}.*(corrupt|TorchScript)`));
    } finally {
      cleanup();
    }
  });

  it('refuses CUDA where there is none', async () => {
    await expect(loadModel(resnetDir, { precision: 'fp32', device: 'cuda' })).rejects.toThrow(/CUDA is not available/);
  });

  it('names a missing image file', async () => {
    const model = await loadModel(resnetDir, { precision: 'fp32', device: 'cpu' });
    try {
      await expect(model.encode(['/nonexistent/cat.png'])).rejects.toThrow(/\/nonexistent\/cat\.png/);
    } finally {
      model.dispose();
    }
  });

  it('rejects a batch size below numItemsPerClass before loading anything', async () => {
    await expect(
      fit({ model: resnetDir, trainData: syntheticImages(4, 4, 16, 1), batchSize: 2, numItemsPerClass: 4 }),
    ).rejects.toThrow(/batchSize.*numItemsPerClass/);
  });

  it('a fit that fails leaves no output directory', async () => {
    const out = join(work.dir, 'never-written');
    const data = syntheticImages(4, 4, 32, 1).map((item) => ({ ...item }));
    data[9] = { image: '/nonexistent/broken.jpg' as never, label: 'class-2' };
    await expect(
      fit({ model: resnetDir, trainData: data, batchSize: 8, numItemsPerClass: 4, epochs: 1, outputDir: out, imageSize: 32 }),
    ).rejects.toThrow(/broken\.jpg/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(work.dir).filter((name) => name.includes('never-written'))).toEqual([]);
  });

  it('rejects a missing model directory with the path in the message', async () => {
    await expect(loadModel(join(work.dir, 'no-such-model'), { precision: 'fp32' })).rejects.toThrow(/no-such-model.*finetuner\.json/);
  });
});

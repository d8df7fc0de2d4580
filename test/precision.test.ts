// Reduced precision on tiny exports of the three kinds of model (resnet50, bert-base-cased, CLIP ViT-B-16).
// The quality guard: on real text (WordNet glosses) and images (Fashion-MNIST), bf16 embeddings keep a mean
// cosine of 0.999 to fp32's and int8's 0.99, and retrieval metrics stay within 0.01 of fp32's. Also: a bf16
// training step gives a finite loss, int8 trains in fp32, the precision a model reports is the one set,
// encode defaults to 'auto' and fit to fp32, 'auto' follows the CPU's flags, fp16 on the CPU and int8 on
// CUDA are refused, and a disposed model refuses setPrecision.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NativeBatch, NativeImageBatch } from '../lib/binding.js';
import { readWordnetPairs } from '../examples/data/wordnet.js';
import { fit, loadModel, type EmbeddingModel } from '../lib/index.js';
import { cpuHasBf16, parseCpuFlags, resolvePrecision, trainingPrecisionOf } from '../lib/precision.js';
import { evaluate, retrievalOf } from '../lib/evaluate.js';
import { readFashionMnist, type FashionMnistImage } from '../examples/data/fashionMnist.js';
import type { WordnetPair } from '../examples/data/wordnet.js';
import { writeClipTokenizer } from '../examples/tokenizers/clipBpe.js';
import { writeBertTokenizer } from '../examples/tokenizers/wordpiece.js';
import { exportTiny, PYTHON, random, REPO_ROOT, syntheticImages, tempDir } from './helpers/fixtures.js';

const work = tempDir('precision');
let imageDir: string;
let textDir: string;
let clipDir: string;
let texts: string[];
let pairs: WordnetPair[];
let fashion: FashionMnistImage[];

function exportWithTokenizer(name: string, out: string, tokenizer: string): string {
  execFileSync(
    PYTHON,
    [join(REPO_ROOT, 'scripts', 'export_torchscript'), name, '--out', out, '--size', 'tiny', '--random-init', '--seed', '0', '--tokenizer', tokenizer],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return out;
}

beforeAll(async () => {
  pairs = await readWordnetPairs({ seed: 7, limit: 200 });
  texts = pairs.slice(0, 16).map((p) => p.query);
  fashion = (await readFashionMnist({ split: 'test', limit: 8 })).images;
  const corpus = pairs.flatMap((p) => [p.query, p.document]);
  const bertTokenizer = join(work.dir, 'bert-tokenizer.json');
  await writeBertTokenizer(bertTokenizer, corpus, { vocabSize: 800, lowercase: true });
  const clipTokenizer = join(work.dir, 'clip-tokenizer.json');
  await writeClipTokenizer(clipTokenizer, corpus, { vocabSize: 600 });
  imageDir = exportTiny('resnet50', join(work.dir, 'resnet50'));
  textDir = exportWithTokenizer('bert-base-cased', join(work.dir, 'bert'), bertTokenizer);
  clipDir = exportWithTokenizer('ViT-B-16::openai', join(work.dir, 'clip'), clipTokenizer);
});
afterAll(() => work.cleanup());

/** Mean over rows of the cosine similarity between two rows x dim matrices. */
function meanCosine(a: Float32Array, b: Float32Array, dim: number): number {
  expect(a.length).toBe(b.length);
  const rows = a.length / dim;
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let c = r * dim; c < (r + 1) * dim; c++) {
      dot += a[c]! * b[c]!;
      na += a[c]! * a[c]!;
      nb += b[c]! * b[c]!;
    }
    sum += dot / Math.sqrt(na * nb);
  }
  return sum / rows;
}

/** uint8 pixels, rows x size x size x 3, from a seeded generator. */
function pixels(rows: number, size: number, seed: number): NativeImageBatch {
  const rand = random(seed);
  return { pixels: Uint8Array.from({ length: rows * size * size * 3 }, () => Math.floor(rand() * 256)), rows, height: size, width: size };
}

type Reduced = 'bf16' | 'int8';

/** The quality guard of issue 13: mean cosine to fp32 of the same inputs. */
const MIN_COSINE: Record<Reduced, number> = { bf16: 0.999, int8: 0.99 };

/** The same batch through an fp32 and a reduced-precision instance of the same weights. */
async function bothPrecisions(reduced: Reduced, dir: () => string, batch: (model: EmbeddingModel) => NativeBatch | Promise<NativeBatch>) {
  // Images at 32 px (the tiny resnet50 is quick to freeze and optimise there), with a projection: its
  // linear layer is what int8 quantizes in a CNN.
  const options = dir() === imageDir ? { imageSize: 32, outputDim: 16 } : {};
  const fp32 = await loadModel(dir(), { precision: 'fp32', device: 'cpu', ...options });
  const other = await loadModel(dir(), { device: 'cpu', precision: reduced, ...options });
  try {
    expect(fp32.precision).toBe('fp32');
    expect(other.precision).toBe(reduced);
    const input = await batch(fp32);
    const a = await fp32.encodeBatch(input);
    const b = await other.encodeBatch(input);
    return { a, b, dim: fp32.outputDim };
  } finally {
    fp32.dispose();
    other.dispose();
  }
}

for (const reduced of ['bf16', 'int8'] as const) {
  describe(`${reduced} embeddings against fp32 of the same real inputs (WordNet glosses, Fashion-MNIST)`, () => {
    const cases: Array<[string, () => string, (model: EmbeddingModel) => NativeBatch | Promise<NativeBatch>]> = [
      ['image (resnet50)', () => imageDir, (model) => model.loadImages(fashion)],
      ['text (bert-base-cased)', () => textDir, (model) => model.tokenize(texts)],
      ['CLIP image tower (ViT-B-16)', () => clipDir, (model) => model.loadImages(fashion)],
      ['CLIP text tower (ViT-B-16)', () => clipDir, (model) => model.tokenize(texts)],
    ];
    for (const [name, dir, batch] of cases) {
      it(`${name}: mean cosine >= ${MIN_COSINE[reduced]}, and ${reduced} did run (not bit-identical)`, async () => {
        const { a, b, dim } = await bothPrecisions(reduced, dir, batch);
        expect(meanCosine(a, b, dim)).toBeGreaterThanOrEqual(MIN_COSINE[reduced]);
        expect(a.some((v, i) => v !== b[i])).toBe(true);
      });
    }

    it(`switching back to fp32 gives the fp32 embeddings again`, async () => {
      const model = await loadModel(textDir, { precision: 'fp32', device: 'cpu' });
      try {
        const batch = model.tokenize(texts);
        const before = await model.encodeBatch(batch);
        model.setPrecision(reduced);
        const changed = await model.encodeBatch(batch);
        model.setPrecision('fp32');
        const again = await model.encodeBatch(batch);
        expect(again).toEqual(before);
        expect(changed.some((v, i) => v !== before[i])).toBe(true);
      } finally {
        model.dispose();
      }
    });
  });
}

describe('retrieval metrics at reduced precision', () => {
  it('WordNet word -> gloss retrieval: every metric within 0.01 of fp32 for bf16 and int8', async () => {
    const model = await loadModel(textDir, { precision: 'fp32', device: 'cpu' });
    try {
      const queries = pairs.slice(0, 120).map((p) => ({ query: p.query, document: p.document }));
      const scores = async () => {
        const result = await evaluate(model, { queries, k: 10 });
        const metrics = retrievalOf(result);
        return { mrr: metrics.mrr, map: metrics.map, ndcg: metrics.ndcgAtK, recall: metrics.recallAtK };
      };
      const fp32 = await scores();
      for (const reduced of ['bf16', 'int8'] as const) {
        model.setPrecision(reduced);
        const other = await scores();
        for (const [name, value] of Object.entries(other)) {
          expect(Math.abs(value - fp32[name as keyof typeof fp32]), `${reduced} ${name}`).toBeLessThanOrEqual(0.01);
        }
      }
    } finally {
      model.dispose();
    }
  });
});

describe('int8', () => {
  it('is refused on CUDA and for training, naming the option', async () => {
    expect(() => resolvePrecision('int8', 'cuda')).toThrow(/'int8' runs on the CPU/);
    await expect(fit({ model: textDir, trainData: [{ query: 'a', document: 'b' }], precision: 'int8' })).rejects.toThrow(
      /option 'precision' 'int8' is for encode only/,
    );
  });

  it('a training step of an int8 model runs in fp32: the same loss as the fp32 model', async () => {
    const losses: number[] = [];
    for (const precision of ['fp32', 'int8'] as const) {
      const model = await loadModel(textDir, { device: 'cpu', precision });
      try {
        const native = model.nativeModel;
        native.configureTraining({ optimizer: 'adam', learningRate: 1e-3, weightDecay: 0, momentum: 0.9, freeze: 'none', seed: 3 });
        const queries = model.tokenize(texts.slice(0, 8));
        const documents = model.tokenize(texts.slice(8, 16));
        const { loss } = await native.trainStep([queries, documents], Int32Array.from({ length: 8 }, (_, i) => i), 'MultipleNegativesRankingLoss', { scale: 20 });
        losses.push(loss);
        expect(model.precision).toBe(precision);
      } finally {
        model.dispose();
      }
    }
    expect(losses[1]).toBe(losses[0]);
  });
});

describe('bf16 training', () => {
  it('image: fit with precision bf16 trains with finite losses, and the model gets its own precision back', async () => {
    const model = await loadModel(imageDir, { precision: 'fp32', device: 'cpu', outputDim: 16, imageSize: 32 });
    try {
      const { history } = await fit({
        model,
        trainData: syntheticImages(4, 4, 32, 5),
        precision: 'bf16',
        epochs: 1,
        batchSize: 16,
        numItemsPerClass: 4,
        miner: 'all',
      });
      expect(model.precision).toBe('fp32');
      expect(history.length).toBe(1);
      expect(Number.isFinite(history[0]!.loss)).toBe(true);
    } finally {
      model.dispose();
    }
  });

  it('text: a MultipleNegativesRankingLoss step in bf16 has a finite loss', async () => {
    const model = await loadModel(textDir, { device: 'cpu', precision: 'bf16' });
    try {
      const native = model.nativeModel;
      native.configureTraining({ optimizer: 'adam', learningRate: 1e-3, weightDecay: 0, momentum: 0.9, freeze: 'none' });
      const queries = model.tokenize(texts.slice(0, 8));
      const documents = model.tokenize(texts.slice(8, 16));
      const { loss } = await native.trainStep([queries, documents], Int32Array.from({ length: 8 }, (_, i) => i), 'MultipleNegativesRankingLoss', { scale: 20 });
      expect(Number.isFinite(loss)).toBe(true);
      expect(loss).toBeGreaterThan(0);
    } finally {
      model.dispose();
    }
  });

  it('CLIP: a contrastive step in bf16 has a finite loss', async () => {
    const model = await loadModel(clipDir, { device: 'cpu', precision: 'bf16' });
    try {
      const native = model.nativeModel;
      native.configureTraining({ optimizer: 'adam', learningRate: 1e-3, weightDecay: 0, momentum: 0.9, freeze: 'none' });
      const images = pixels(8, model.preprocessing.crop, 4);
      const { loss } = await native.trainStep([model.tokenize(texts.slice(0, 8)), images], Int32Array.from({ length: 8 }, (_, i) => i), 'CLIPLoss');
      expect(Number.isFinite(loss)).toBe(true);
      expect(loss).toBeGreaterThan(0);
    } finally {
      model.dispose();
    }
  });
});

describe('choosing the precision', () => {
  // The flags lines of /proc/cpuinfo, shortened: this project's AMD EPYC (Zen 4), an Intel Sapphire
  // Rapids (AMX) and an Intel Skylake-SP (AVX-512 without bf16).
  const EPYC = 'processor\t: 0\nflags\t\t: fpu vme sse2 avx2 avx512f avx512dq avx512_bf16 avx512_vnni clzero\nbugs\t\t: sysret_ss_attrs\n';
  const SAPPHIRE_RAPIDS = 'processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni amx_bf16 amx_tile amx_int8\n';
  const SKYLAKE = 'processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512dq avx512bw avx512vl\n';

  it("'auto' is bf16 where the CPU flags have avx512_bf16 or amx_bf16, else fp32; bf16 on CUDA", () => {
    expect(resolvePrecision('auto', 'cpu', 'precision', parseCpuFlags(EPYC))).toBe('bf16');
    expect(resolvePrecision('auto', 'cpu', 'precision', parseCpuFlags(SAPPHIRE_RAPIDS))).toBe('bf16');
    expect(resolvePrecision('auto', 'cpu', 'precision', parseCpuFlags(SKYLAKE))).toBe('fp32');
    expect(resolvePrecision('auto', 'cpu', 'precision', parseCpuFlags(''))).toBe('fp32');
    expect(resolvePrecision('auto', 'cuda', 'precision', parseCpuFlags(SKYLAKE))).toBe('bf16');
    expect(parseCpuFlags(EPYC).has('avx512_bf16')).toBe(true);
    expect(parseCpuFlags(EPYC).has('sysret_ss_attrs')).toBe(false);
  });

  it("explicit choices pass through; encode defaults to 'auto', training to fp32; unknown names are a TypeError", () => {
    for (const device of ['cpu', 'cuda'] as const) {
      expect(resolvePrecision('fp32', device)).toBe('fp32');
      expect(resolvePrecision('bf16', device)).toBe('bf16');
      expect(resolvePrecision(undefined, device, 'precision', parseCpuFlags(EPYC))).toBe('bf16');
      expect(trainingPrecisionOf(undefined)).toBe('fp32');
    }
    expect(resolvePrecision(undefined, 'cpu', 'precision', parseCpuFlags(SKYLAKE))).toBe('fp32');
    expect(resolvePrecision('int8', 'cpu')).toBe('int8');
    expect(resolvePrecision('fp16', 'cuda')).toBe('fp16');
    expect(() => resolvePrecision('fp8', 'cpu')).toThrow(TypeError);
    expect(() => resolvePrecision('fp8', 'cpu')).toThrow(/option 'precision' must be one of auto, fp32, bf16, fp16, int8, got "fp8"/);
  });

  it("'fp16' on the CPU is a clear error, from loadModel and from setPrecision", async () => {
    expect(() => resolvePrecision('fp16', 'cpu')).toThrow(/'fp16' needs a CUDA device.*use 'bf16' or 'auto'/);
    await expect(loadModel(imageDir, { device: 'cpu', precision: 'fp16' })).rejects.toThrow(/'fp16' needs a CUDA device/);
    const model = await loadModel(imageDir, { precision: 'fp32', device: 'cpu' });
    try {
      expect(() => model.setPrecision('fp16')).toThrow(TypeError);
      expect(model.precision).toBe('fp32');
    } finally {
      model.dispose();
    }
  });

  it("a model reports the precision set: loadModel default 'auto', loadModel option, setPrecision, auto", async () => {
    const byDefault = await loadModel(imageDir, { device: 'cpu' });
    try {
      expect(byDefault.precision).toBe(cpuHasBf16() ? 'bf16' : 'fp32');
    } finally {
      byDefault.dispose();
    }
    const model = await loadModel(imageDir, { precision: 'fp32', device: 'cpu' });
    try {
      expect(model.precision).toBe('fp32');
      model.setPrecision('int8');
      expect(model.precision).toBe('int8');
      model.setPrecision('bf16');
      expect(model.precision).toBe('bf16');
      model.setPrecision('fp32');
      expect(model.precision).toBe('fp32');
      model.setPrecision('auto');
      expect(model.precision).toBe(cpuHasBf16() ? 'bf16' : 'fp32');
    } finally {
      model.dispose();
    }
    const auto = await loadModel(imageDir, { device: 'cpu', precision: 'auto' });
    try {
      expect(auto.precision).toBe(cpuHasBf16() ? 'bf16' : 'fp32');
    } finally {
      auto.dispose();
    }
  });

  it('setPrecision and precision after dispose throw', async () => {
    const model = await loadModel(imageDir, { device: 'cpu', precision: 'bf16' });
    model.dispose();
    expect(() => model.setPrecision('fp32')).toThrow(/disposed/);
    expect(() => model.precision).toThrow(/disposed/);
  });
});

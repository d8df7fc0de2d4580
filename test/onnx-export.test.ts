// ONNX export (model.exportOnnx, `finetuner export-onnx`): the exported graphs, run with onnxruntime-node,
// give the addon's embeddings of the same prepared inputs (max abs difference under 1e-4) for tiny ResNet,
// BERT, DistilBERT and CLIP models with a projection head, at two batch sizes and two text lengths; the
// files beside them (tokenizer.json, the preprocessing JSON whose mean / std the image check uses); a CLI
// round trip; files we did not write are refused, never replaced; a failed export leaves nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeClipTokenizer } from '../examples/tokenizers/clipBpe.js';
import { writeBertTokenizer } from '../examples/tokenizers/wordpiece.js';
import { mulberry32 } from '../lib/data/sampler.js';
import { exportOnnxFromDir, loadModel, type EmbeddingModel } from '../lib/index.js';
import { exportTiny, maxAbsDiff, PYTHON, REPO_ROOT, tempDir } from './helpers/fixtures.js';

const work = tempDir('onnx');
const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const SHORT = ['a cat', 'photo'];
const LONG = ['a photo of thing number 3 with many more words than the others', 'number 12', 'words words words words 7 7 7'];
const models: Record<string, EmbeddingModel> = {};

function exportText(name: string, out: string, tokenizer: string): string {
  const script = join(REPO_ROOT, 'scripts', 'export_torchscript');
  const r = spawnSync(PYTHON, [script, name, '--out', out, '--size', 'tiny', '--random-init', '--tokenizer', tokenizer], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return out;
}

beforeAll(async () => {
  const corpus = Array.from({ length: 100 }, (_, i) => `a photo of thing number ${i} with words ${i * 7}`).concat(SHORT, LONG);
  const bertTokenizer = join(work.dir, 'bert-tokenizer.json');
  const clipTokenizer = join(work.dir, 'clip-tokenizer.json');
  await writeBertTokenizer(bertTokenizer, corpus, { vocabSize: 200, lowercase: true });
  await writeClipTokenizer(clipTokenizer, corpus, { vocabSize: 600 });
  // A projection head (outputDim 16) so that the export is shown to carry it.
  models.resnet = await loadModel(exportTiny('resnet50', join(work.dir, 'resnet')), { precision: 'fp32', device: 'cpu', outputDim: 16 });
  models.bert = await loadModel(exportText('bert-base-cased', join(work.dir, 'bert'), bertTokenizer), { precision: 'fp32', device: 'cpu', outputDim: 16 });
  models.distilbert = await loadModel(
    exportText('sentence-transformers/msmarco-distilbert-base-v3', join(work.dir, 'distil'), bertTokenizer), { precision: 'fp32', device: 'cpu', outputDim: 16 },
  );
  models.clip = await loadModel(exportText('ViT-B-16::openai', join(work.dir, 'clip'), clipTokenizer), { precision: 'fp32', device: 'cpu' });
});
afterAll(() => {
  for (const model of Object.values(models)) model.dispose();
  work.cleanup();
});

interface Preprocessing {
  format: string;
  files: { image?: string; text?: string; tokenizer?: string };
  image?: { input: string; height: number; width: number; rescale: number; mean: number[]; std: number[] };
  text?: { inputs: string[]; maxLength: number };
  output: { name: string; shape: [string, number] };
}

function readPreprocessing(file: string): Preprocessing {
  return JSON.parse(readFileSync(file, 'utf8')) as Preprocessing;
}

/** uint8 NHWC pixels as the preprocessing JSON says to feed them: float32 NCHW, / 255, (x - mean) / std. */
function toPixelValues(pixels: Uint8Array, rows: number, size: number, image: NonNullable<Preprocessing['image']>): ort.Tensor {
  const out = new Float32Array(rows * 3 * size * size);
  for (let n = 0; n < rows; n++) {
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < size * size; i++) {
        out[((n * 3 + c) * size * size) + i] = (pixels[(n * size * size + i) * 3 + c]! * image.rescale - image.mean[c]!) / image.std[c]!;
      }
    }
  }
  return new ort.Tensor('float32', out, [rows, 3, size, size]);
}

/** Image encoder: ORT on pixel_values against model.encodeBatch of the same uint8 pixels, batches of 1 and 4. */
async function checkImage(model: EmbeddingModel, onnxFile: string, pre: Preprocessing): Promise<number> {
  const session = await ort.InferenceSession.create(onnxFile);
  expect(session.inputNames).toEqual(['pixel_values']);
  expect(session.outputNames).toEqual(['embeddings']);
  const size = pre.image!.height;
  expect(size).toBe(model.preprocessing.crop);
  let worst = 0;
  for (const [rows, seed] of [[1, 1], [4, 2]] as const) {
    const rand = mulberry32(seed);
    const pixels = Uint8Array.from({ length: rows * size * size * 3 }, () => Math.floor(rand() * 256));
    const expected = await model.encodeBatch({ pixels, rows, height: size, width: size });
    const { embeddings } = await session.run({ pixel_values: toPixelValues(pixels, rows, size, pre.image!) });
    expect(embeddings!.dims).toEqual([rows, model.outputDim]);
    worst = Math.max(worst, maxAbsDiff(embeddings!.data as Float32Array, expected));
  }
  return worst;
}

/** Text encoder: ORT on input_ids / attention_mask against model.encodeBatch of the same tokens. */
async function checkText(model: EmbeddingModel, onnxFile: string): Promise<number> {
  const session = await ort.InferenceSession.create(onnxFile);
  expect(session.inputNames).toEqual(['input_ids', 'attention_mask']);
  const lengths = new Set<number>();
  let worst = 0;
  for (const texts of [SHORT.slice(0, 1), LONG]) {
    const batch = model.tokenize(texts);
    lengths.add(batch.length);
    const expected = await model.encodeBatch(batch);
    const dims = [batch.rows, batch.length];
    const { embeddings } = await session.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(batch.inputIds, BigInt), dims),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from(batch.attentionMask, BigInt), dims),
    });
    expect(embeddings!.dims).toEqual([batch.rows, model.outputDim]);
    worst = Math.max(worst, maxAbsDiff(embeddings!.data as Float32Array, expected));
  }
  expect(lengths.size).toBe(2); // two lengths, and LONG has padded rows
  return worst;
}

describe('model.exportOnnx', () => {
  it('an image model: model.onnx and its preprocessing JSON; ORT equals the addon', async () => {
    const files = await models.resnet!.exportOnnx(join(work.dir, 'resnet.onnx'));
    expect(files.image).toBe(join(work.dir, 'resnet.onnx'));
    expect(files.preprocessing).toBe(join(work.dir, 'resnet.preprocessing.json'));
    expect(files.tokenizer).toBeUndefined();
    const pre = readPreprocessing(files.preprocessing);
    expect(pre.format).toBe('finetuner-onnx');
    expect(pre.image!.mean).toEqual(models.resnet!.preprocessing.mean);
    expect(pre.output.shape).toEqual(['batch', 16]);
    expect(await checkImage(models.resnet!, files.image!, pre)).toBeLessThan(1e-4);
  });

  for (const name of ['bert', 'distilbert'] as const) {
    it(`a text model (${name}): tokenizer.json beside it; ORT equals the addon at two batch sizes and lengths`, async () => {
      const dir = join(work.dir, `out-${name}`);
      mkdirSync(dir);
      const files = await models[name]!.exportOnnx(join(dir, 'model.onnx'));
      expect(readFileSync(files.tokenizer!)).toEqual(readFileSync(models[name]!.tokenizer.file));
      expect(readPreprocessing(files.preprocessing).text!.maxLength).toBe(models[name]!.metadata.text!.maxLength);
      expect(await checkText(models[name]!, files.text!)).toBeLessThan(1e-4);
      expect(readdirSync(dir).sort()).toEqual(['model.onnx', 'model.preprocessing.json', 'tokenizer.json']);
    });
  }

  it('CLIP: one file per tower, both equal the addon', async () => {
    const dir = join(work.dir, 'out-clip');
    mkdirSync(dir);
    const files = await models.clip!.exportOnnx(join(dir, 'clip.onnx'));
    expect(readdirSync(dir).sort()).toEqual(['clip-image.onnx', 'clip-text.onnx', 'clip.preprocessing.json', 'tokenizer.json']);
    const pre = readPreprocessing(files.preprocessing);
    expect(pre.files).toEqual({ image: 'clip-image.onnx', text: 'clip-text.onnx', tokenizer: 'tokenizer.json' });
    expect(await checkImage(models.clip!, files.image!, pre)).toBeLessThan(1e-4);
    expect(await checkText(models.clip!, files.text!)).toBeLessThan(1e-4);
  });

  it('refuses to replace a file it did not write, and leaves nothing behind', async () => {
    const dir = join(work.dir, 'out-foreign');
    mkdirSync(dir);
    writeFileSync(join(dir, 'tokenizer.json'), '{"mine": true}');
    await expect(models.bert!.exportOnnx(join(dir, 'model.onnx'))).rejects.toThrow(/tokenizer\.json exists and was not written by a finetuner ONNX export/);
    expect(readdirSync(dir)).toEqual(['tokenizer.json']);
    expect(readFileSync(join(dir, 'tokenizer.json'), 'utf8')).toBe('{"mine": true}');
  });

  it('an export that fails half-way (CLIP at opset 9: its text tower needs a newer one) leaves nothing', async () => {
    const dir = join(work.dir, 'out-opset9');
    // What a killed export leaves (pid 2^22 + 1 is above Linux's pid_max): removed by the next export.
    mkdirSync(join(dir, `.clip.preprocessing.json.finetuner-staging-${2 ** 22 + 1}-abcdef`), { recursive: true });
    await expect(models.clip!.exportOnnx(join(dir, 'clip.onnx'), { opset: 9 })).rejects.toThrow(/ONNX export of .* failed: .*opset/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a folder that is not a saved model is named', async () => {
    const out = join(work.dir, 'never.onnx');
    await expect(exportOnnxFromDir(join(work.dir, 'out-foreign'), out)).rejects.toThrow(/out-foreign\/finetuner\.json not found.*not a finetuner model/);
    await expect(exportOnnxFromDir(join(work.dir, 'resnet'), out)).rejects.toThrow(/resnet\/finetuner\.json is an exported backbone, not a saved model/);
    expect(existsSync(out)).toBe(false);
    await expect(models.resnet!.exportOnnx(join(work.dir, 'model.bin'))).rejects.toThrow(/exportOnnx: path must name a \.onnx file/);
  });

  it('a missing Python is named', async () => {
    await expect(models.resnet!.exportOnnx(join(work.dir, 'nopy.onnx'), { python: join(work.dir, 'no-python') })).rejects.toThrow(/not found at .*no-python/);
    expect(existsSync(join(work.dir, 'nopy.onnx'))).toBe(false);
  });
});

describe('finetuner export-onnx', () => {
  it('exports a saved model, and again over its own earlier export; a missing --model is named', async () => {
    const saved = join(work.dir, 'saved-bert');
    await models.bert!.save(saved);
    const out = join(work.dir, 'cli-bert.onnx');
    for (let round = 0; round < 2; round++) {
      const r = spawnSync(process.execPath, [CLI, 'export-onnx', '--model', saved, '--out', out], { encoding: 'utf8' });
      expect(r.stderr + r.stdout).toMatch(/exported .* to ONNX/);
      expect(r.status).toBe(0);
    }
    expect(await checkText(models.bert!, out)).toBeLessThan(1e-4);
    const missing = spawnSync(process.execPath, [CLI, 'export-onnx', '--model', join(work.dir, 'nowhere'), '--out', out], { encoding: 'utf8' });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/nowhere/);
  });
});

// Text-to-image (CLIP) end to end on tiny exports with a CLIP BPE tokenizer learned from Fashion-MNIST
// captions: both towers against Python, encode() choosing by input, a contrastive fine-tune that improves
// held-out text-to-image retrieval, tower freezing, WiSE-FT, save / reload / Python parity of both
// towers, the XLM-R tower and ResNet image tower, and bad input.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate, fit, loadModel, type EmbeddingModel } from '../lib/index.js';
import { captionFor, classPrompt } from '../examples/data/fashionCaptions.js';
import { readFashionMnist } from '../examples/data/fashionMnist.js';
import type { RawImage } from '../lib/data/images.js';
import { mulberry32 } from '../lib/data/sampler.js';
import { writeClipTokenizer } from '../examples/tokenizers/clipBpe.js';
import { writeXlmRobertaTokenizer } from '../examples/tokenizers/unigram.js';
import { maxAbsDiff, PYTHON, readFloats, REPO_ROOT, tempDir } from './helpers/fixtures.js';

const work = tempDir('clip');
let vitDir: string;
let rnDir: string;
let xlmrDir: string;
let train: Array<{ text: string; image: RawImage }>;
let heldOut: Array<{ text: string; image: RawImage }>;

function exportClip(name: string, out: string, tokenizer: string, seed = 0): string {
  execFileSync(
    PYTHON,
    [join(REPO_ROOT, 'scripts', 'export_torchscript'), name, '--out', out, '--size', 'tiny', '--random-init', '--seed', String(seed), '--tokenizer', tokenizer],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return out;
}

beforeAll(async () => {
  const trainSet = await readFashionMnist({ split: 'train', limit: 1500 });
  const testSet = await readFashionMnist({ split: 'test', limit: 300 });
  const rand = mulberry32(3);
  train = trainSet.images.map((image, i) => ({ text: captionFor(trainSet.labels[i]!, rand), image }));
  heldOut = testSet.images.map((image, i) => ({ text: classPrompt(testSet.labels[i]!), image }));
  const corpus = [...train.map((p) => p.text), ...heldOut.map((p) => p.text), 'a photo of a cat', 'a dog'];
  const clipTokenizer = join(work.dir, 'clip-tokenizer.json');
  await writeClipTokenizer(clipTokenizer, corpus, { vocabSize: 700 });
  const xlmrTokenizer = join(work.dir, 'xlmr-tokenizer.json');
  await writeXlmRobertaTokenizer(xlmrTokenizer, corpus, { vocabSize: 400 });
  vitDir = exportClip('ViT-B-16::openai', join(work.dir, 'vit'), clipTokenizer);
  rnDir = exportClip('RN50::openai', join(work.dir, 'rn50'), clipTokenizer);
  xlmrDir = exportClip('xlm-roberta-base-ViT-B-32::laion5b_s13b_b90k', join(work.dir, 'xlmr'), xlmrTokenizer);
});
afterAll(() => work.cleanup());

/** Deterministic uint8 pixels, rows x size x size x 3. */
function pixels(rows: number, size: number, seed: number): Uint8Array {
  const rand = mulberry32(seed);
  return Uint8Array.from({ length: rows * size * size * 3 }, () => Math.floor(rand() * 256));
}

function norms(data: Float32Array, dim: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < data.length / dim; r++) out.push(Math.hypot(...data.subarray(r * dim, (r + 1) * dim)));
  return out;
}

// Python side of the parity checks: reads the pixels and token batch written by writeInputs and prints
// nothing; writes image and text embeddings of either the exported backbone (normalising pixels and
// embeddings itself) or a saved model (its encode_pixels / encode_tokens) as raw float32.
const PY_PARITY = `
import sys, json, numpy as np, torch
model_file, prefix, kind = sys.argv[1], sys.argv[2], sys.argv[3]
shape = json.load(open(prefix + "-shape.json"))
m = torch.jit.load(model_file).eval()
px = torch.from_numpy(np.fromfile(prefix + "-pixels.bin", dtype=np.uint8).reshape(shape["rows"], shape["size"], shape["size"], 3))
tok = lambda k: torch.from_numpy(np.fromfile(prefix + "-" + k + ".bin", dtype=np.int32).reshape(shape["textRows"], shape["length"]))
ids, mask, types = tok("ids"), tok("mask"), tok("types")
with torch.no_grad():
    if kind == "backbone":
        mean = torch.tensor(shape["mean"]).view(1, 3, 1, 1); std = torch.tensor(shape["std"]).view(1, 3, 1, 1)
        x = (px.permute(0, 3, 1, 2).float() / 255.0 - mean) / std
        img = torch.nn.functional.normalize(m.encode_image(x), dim=-1)
        txt = torch.nn.functional.normalize(m.encode_text(ids.long(), mask.long()), dim=-1)
    else:
        img = m.encode_pixels(px)
        txt = m.encode_tokens(ids, mask, types)
img.numpy().astype(np.float32).tofile(prefix + "-py-image.bin")
txt.numpy().astype(np.float32).tofile(prefix + "-py-text.bin")
`;

async function parity(model: EmbeddingModel, modelFile: string, kind: 'backbone' | 'saved', tag: string) {
  const size = model.preprocessing.crop;
  const prefix = join(work.dir, tag);
  const px = pixels(3, size, 11);
  const texts = ['a photo of a sneaker', 'a black and white photo of an overcoat', 'jeans'];
  const tokens = model.tokenize(texts);
  writeFileSync(`${prefix}-pixels.bin`, px);
  for (const [key, array] of [['ids', tokens.inputIds], ['mask', tokens.attentionMask], ['types', tokens.tokenTypeIds]] as const) {
    writeFileSync(`${prefix}-${key}.bin`, array);
  }
  const { mean, std } = model.preprocessing;
  writeFileSync(`${prefix}-shape.json`, JSON.stringify({ rows: 3, size, textRows: tokens.rows, length: tokens.length, mean, std }));
  execFileSync(PYTHON, ['-c', PY_PARITY, modelFile, prefix, kind], { stdio: ['ignore', 'ignore', 'pipe'] });
  const image = await model.encodeBatch({ pixels: px, rows: 3, height: size, width: size });
  const text = await model.encodeBatch(tokens);
  return { imageDiff: maxAbsDiff(image, readFloats(`${prefix}-py-image.bin`)), textDiff: maxAbsDiff(text, readFloats(`${prefix}-py-text.bin`)) };
}

describe('CLIP models', () => {
  for (const [label, dir] of [
    ['ViT', () => vitDir],
    ['ResNet', () => rnDir],
    ['XLM-R', () => xlmrDir],
  ] as const) {
    it(`${label}: both towers encode into one L2-normalised space, equal to Python's`, async () => {
      const model = await loadModel(dir(), { precision: 'fp32', device: 'cpu' });
      try {
        expect(model.modality).toBe('text-image');
        expect(model.outputDim).toBe(32);
        const texts = await model.encodeText(['a photo of a bag', 'a tee']);
        const images = await model.encodeImage(heldOut.slice(0, 3).map((p) => p.image));
        expect([texts.rows, texts.dim, images.rows, images.dim]).toEqual([2, 32, 3, 32]);
        for (const n of [...norms(texts.data, 32), ...norms(images.data, 32)]) expect(n).toBeCloseTo(1, 5);
        const { imageDiff, textDiff } = await parity(model, join(dir(), 'model.pt'), 'backbone', `${label}-backbone`);
        expect(imageDiff).toBeLessThan(1e-5);
        expect(textDiff).toBeLessThan(1e-5);
      } finally {
        model.dispose();
      }
    });
  }

  it('encode() takes texts or images and refuses a mix', async () => {
    const model = await loadModel(vitDir, { precision: 'fp32', device: 'cpu' });
    try {
      const png = join(work.dir, 'grey.png');
      await sharp(Buffer.from(heldOut[0]!.image.pixels), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(png);
      const asImages = await model.encode([png, heldOut[0]!.image]);
      const direct = await model.encodeImage([png]);
      expect(maxAbsDiff(asImages.data.subarray(0, 32), direct.data)).toBeLessThan(1e-6);
      const asTexts = await model.encode(['a photo of a bag']);
      expect(maxAbsDiff(asTexts.data, (await model.encodeText(['a photo of a bag'])).data)).toBeLessThan(1e-6);
      await expect(model.encode(['a photo of a bag', png])).rejects.toThrow(/1 image\(s\) and 1 text\(s\).*encodeText\(texts\) and encodeImage\(images\)/);
    } finally {
      model.dispose();
    }
  });

  it('converts grey and 4-channel images, and truncates texts to the context length keeping end-of-text', async () => {
    const model = await loadModel(vitDir, { precision: 'fp32', device: 'cpu' });
    try {
      const grey = heldOut[1]!.image;
      const rgb: RawImage = { width: 28, height: 28, channels: 3, pixels: Uint8Array.from({ length: 28 * 28 * 3 }, (_, i) => grey.pixels[Math.floor(i / 3)]!) };
      const rgba: RawImage = { width: 28, height: 28, channels: 4, pixels: Uint8Array.from({ length: 28 * 28 * 4 }, (_, i) => (i % 4 === 3 ? 255 : grey.pixels[Math.floor(i / 4)]!)) };
      const e = await model.encodeImage([grey, rgb, rgba]);
      expect(maxAbsDiff(e.data.subarray(0, 32), e.data.subarray(32, 64))).toBeLessThan(1e-5);
      expect(maxAbsDiff(e.data.subarray(0, 32), e.data.subarray(64, 96))).toBeLessThan(1e-5);

      // Tiny CLIPs have a 16-token context (77 at full size): a longer caption is cut to 16, end-of-text last.
      expect(model.tokenizer.maxLength).toBe(16);
      const long = Array.from({ length: 30 }, () => 'sneaker').join(' ');
      const batch = model.tokenize([long]);
      expect(batch.length).toBe(16);
      expect(batch.truncated).toBe(1);
      expect(model.tokenizer.tokens([batch.inputIds[15]!])).toEqual(['<|endoftext|>']);
      let truncated = 0;
      await model.encodeText([long, 'a tee'], { onProgress: (p) => (truncated = p.truncated) });
      expect(truncated).toBe(1);
      await expect(loadModel(vitDir, { precision: 'fp32', device: 'cpu', maxLength: 40 })).rejects.toThrow(/maxLength.*exceeds ViT-B-16::openai's context length of 16/);
      await expect(loadModel(vitDir, { precision: 'fp32', device: 'cpu', outputDim: 8 })).rejects.toThrow(/'outputDim' does not apply to CLIP models/);
    } finally {
      model.dispose();
    }
  });

  it('fine-tuning with the contrastive loss improves held-out text-to-image retrieval; save, reload and Python agree', async () => {
    const model = await loadModel(vitDir, { precision: 'fp32', device: 'cpu' });
    const saved = join(work.dir, 'vit-fine-tuned');
    try {
      const before = await evaluate(model, { queries: heldOut, k: 10 });
      const temperature = model.temperature;
      const { history } = await fit({ model, trainData: train, epochs: 4, batchSize: 32, learningRate: 2e-3, scheduler: 'cosine', outputDir: saved, seed: 1 });
      const after = await evaluate(model, { queries: heldOut, k: 10 });
      expect(history[3]!.loss).toBeLessThan(history[0]!.loss);
      expect(after.queries).toBe(10); // one query per class prompt
      expect(after.map).toBeGreaterThan(before.map + 0.15);
      expect(after.imageToText!.hitAt1).toBeGreaterThan(before.imageToText!.hitAt1 + 0.15);
      expect(model.temperature).not.toBe(temperature); // the temperature is learned

      const reloaded = await loadModel(saved, { precision: 'fp32', device: 'cpu' });
      try {
        expect(reloaded.modality).toBe('text-image');
        expect(reloaded.metadata.training).toMatchObject({ loss: 'CLIPLoss' });
        const again = await evaluate(reloaded, { queries: heldOut, k: 10 });
        expect(again.map).toBeCloseTo(after.map, 5);
        const { imageDiff, textDiff } = await parity(reloaded, join(saved, 'model.pt'), 'saved', 'saved');
        expect(imageDiff).toBeLessThan(1e-5);
        expect(textDiff).toBeLessThan(1e-5);
      } finally {
        reloaded.dispose();
      }
    } finally {
      model.dispose();
    }
  });

  it('freezes either tower, and WiSE-FT interpolates towards the pretrained weights', async () => {
    const sample = heldOut.slice(0, 4);
    const texts = sample.map((p) => p.text);
    const images = sample.map((p) => p.image);
    const frozenImage = await loadModel(vitDir, { precision: 'fp32', device: 'cpu' });
    try {
      const imageBefore = await frozenImage.encodeImage(images);
      const textBefore = await frozenImage.encodeText(texts);
      // loss given explicitly: fit once refused CLIPLoss as not one of its losses.
      await fit({ model: frozenImage, trainData: train.slice(0, 256), epochs: 1, batchSize: 64, learningRate: 1e-3, freeze: 'image', loss: 'CLIPLoss' });
      expect(maxAbsDiff(imageBefore.data, (await frozenImage.encodeImage(images)).data)).toBeLessThan(1e-6);
      expect(maxAbsDiff(textBefore.data, (await frozenImage.encodeText(texts)).data)).toBeGreaterThan(1e-3);
    } finally {
      frozenImage.dispose();
    }
    const frozenText = await loadModel(vitDir, { precision: 'fp32', device: 'cpu' });
    try {
      const textBefore = await frozenText.encodeText(texts);
      const imageBefore = await frozenText.encodeImage(images);
      await fit({ model: frozenText, trainData: train.slice(0, 256), epochs: 1, batchSize: 64, learningRate: 1e-3, freeze: 'text' });
      expect(maxAbsDiff(textBefore.data, (await frozenText.encodeText(texts)).data)).toBeLessThan(1e-6);
      expect(maxAbsDiff(imageBefore.data, (await frozenText.encodeImage(images)).data)).toBeGreaterThan(1e-3);
    } finally {
      frozenText.dispose();
    }

    // alpha 0 gives back the pretrained model exactly; 0.5 lands between the two.
    const pretrained = await loadModel(vitDir, { precision: 'fp32', device: 'cpu' });
    const [initial, full, half, zero] = await (async () => {
      try {
        const initial = await pretrained.encodeText(texts);
        const run = async (wiseFt: number | undefined) => {
          const model = await loadModel(vitDir, { precision: 'fp32', device: 'cpu' });
          try {
            const result = await fit({ model, trainData: train.slice(0, 256), epochs: 1, batchSize: 64, learningRate: 1e-3, wiseFt });
            if (wiseFt !== undefined) expect(result.wiseFt).toEqual({ alpha: wiseFt });
            return await model.encodeText(texts);
          } finally {
            model.dispose();
          }
        };
        return [initial, await run(undefined), await run(0.5), await run(0)];
      } finally {
        pretrained.dispose();
      }
    })();
    expect(maxAbsDiff(zero.data, initial.data)).toBeLessThan(1e-5);
    const toInitial = maxAbsDiff(half.data, initial.data);
    const toFull = maxAbsDiff(half.data, full.data);
    expect(toInitial).toBeGreaterThan(1e-3);
    expect(toFull).toBeGreaterThan(1e-3);
    expect(toInitial).toBeLessThan(maxAbsDiff(full.data, initial.data));
  });

  it('refuses options and data that do not fit a CLIP model', async () => {
    const csv = join(work.dir, 'swapped.csv');
    writeFileSync(csv, 'text,image\nshoe.png,a photo of a shoe\nbag.png,a photo of a bag\n');
    await expect(fit({ model: vitDir, trainData: csv, epochs: 1 })).rejects.toThrow(/row 2.*image path.*swapped/i);
    await expect(fit({ model: vitDir, trainData: train.slice(0, 64), freeze: true })).rejects.toThrow(/no separate trunk.*'image' or 'text'/);
    await expect(fit({ model: vitDir, trainData: train.slice(0, 64), loss: 'TripletMarginLoss' })).rejects.toThrow(/text-image pairs trains with CLIPLoss/);
    await expect(fit({ model: vitDir, trainData: train.slice(0, 64), wiseFt: 1.5 })).rejects.toThrow(/'wiseFt' must be a number in \[0, 1\]/);
    await expect(fit({ model: rnDir, trainData: [{ text: 'a', image: heldOut[0]!.image }] })).rejects.toThrow(/at least 2/);
  });
});

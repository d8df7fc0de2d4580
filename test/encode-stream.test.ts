// Streaming encode on tiny exported models: encodeStream / encodeIterator match model.encode row for
// row (images and texts, array and async generator sources), the .npy loads in numpy, batch boundaries,
// and errors and aborts that name the item and leave neither the file nor its temporary file behind.
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, NpyWriter, type EmbeddingModel, type RawImage } from '../lib/index.js';
import { readNpy } from '../lib/npy.js';
import { writeBertTokenizer } from '../examples/tokenizers/wordpiece.js';
import { exportTiny, maxAbsDiff, PYTHON, REPO_ROOT, syntheticImages, tempDir } from './helpers/fixtures.js';

const work = tempDir('stream');
let images: EmbeddingModel;
let texts: EmbeddingModel;
let pictures: RawImage[];
let sentences: string[];

const WORDS = 'the a cat dog sat ran on under mat table quietly quickly red blue small large house river bright dark'.split(' ');

beforeAll(async () => {
  pictures = syntheticImages(60, 1, 32, 3).map((item) => item.image);
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  sentences = Array.from({ length: 70 }, (_, i) =>
    Array.from({ length: 2 + Math.floor(rand() * (i % 7 === 0 ? 40 : 12)) }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' '),
  );
  const tokenizer = join(work.dir, 'tokenizer.json');
  await writeBertTokenizer(tokenizer, sentences, { vocabSize: 200, lowercase: true });
  const imageDir = exportTiny('resnet50', join(work.dir, 'resnet50'));
  const textDir = join(work.dir, 'bert');
  execFileSync(PYTHON, [join(REPO_ROOT, 'scripts', 'export_torchscript'), 'bert-base-cased', '--out', textDir, '--size', 'tiny', '--random-init', '--tokenizer', tokenizer], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  images = await loadModel(imageDir, { precision: 'fp32', device: 'cpu', imageSize: 32 });
  texts = await loadModel(textDir, { precision: 'fp32', device: 'cpu', maxLength: 24 });
});
afterAll(() => {
  images?.dispose();
  texts?.dispose();
  work.cleanup();
});

async function* lazily<T>(items: readonly T[], onPull?: (i: number) => void): AsyncGenerator<T> {
  for (let i = 0; i < items.length; i++) {
    onPull?.(i);
    await Promise.resolve();
    yield items[i]!;
  }
}

/** Files of the work directory whose name starts with `name` (the file itself and any temporary file). */
function leftovers(name: string): string[] {
  return readdirSync(work.dir).filter((f) => f.startsWith(name));
}

function numpyShapes(files: string[]): Array<{ shape: number[]; dtype: string }> {
  const code = 'import sys, json, numpy as np\nprint(json.dumps([{"shape": list(np.load(f).shape), "dtype": np.load(f).dtype.str} for f in sys.argv[1:]]))';
  return JSON.parse(execFileSync(PYTHON, ['-c', code, ...files], { encoding: 'utf8' }));
}

describe('encodeStream', () => {
  it('images: an array and an async generator give model.encode row for row, in a .npy numpy reads', async () => {
    const expected = await images.encode(pictures, { batchSize: 16 });
    const fromArray = join(work.dir, 'images-array.npy');
    const fromGenerator = join(work.dir, 'images-generator.npy');
    const progress: number[] = [];
    const a = await images.encodeStream(pictures, { out: fromArray, batchSize: 7, onProgress: (p) => progress.push(p.done) });
    const b = await images.encodeStream(lazily(pictures), { out: fromGenerator, batchSize: 16, prefetch: 1 });
    expect(a).toEqual({ file: fromArray, rows: 60, dim: images.outputDim });
    expect(b).toEqual({ file: fromGenerator, rows: 60, dim: images.outputDim });
    expect(progress).toEqual([7, 14, 21, 28, 35, 42, 49, 56, 60]);
    for (const file of [fromArray, fromGenerator]) {
      const { data, shape } = await readNpy(file);
      expect(shape).toEqual([60, images.outputDim]);
      expect(maxAbsDiff(data, expected.data)).toBeLessThan(1e-5);
    }
    expect(numpyShapes([fromArray, fromGenerator])).toEqual([
      { shape: [60, images.outputDim], dtype: '<f4' },
      { shape: [60, images.outputDim], dtype: '<f4' },
    ]);
    expect(leftovers('images-array.npy.tmp')).toEqual([]);
  });

  it('texts: an array and an async generator give model.encode row for row, counting truncated texts', async () => {
    const expected = await texts.encode(sentences, { batchSize: 32 });
    const out = join(work.dir, 'texts.npy');
    let truncated = -1;
    const result = await texts.encodeStream(lazily(sentences), { out, batchSize: 9, onProgress: (p) => (truncated = p.truncated!) });
    expect(result.rows).toBe(sentences.length);
    const { data, shape } = await readNpy(out);
    expect(shape).toEqual([sentences.length, texts.outputDim]);
    expect(maxAbsDiff(data, expected.data)).toBeLessThan(1e-5);
    const long = sentences.filter((s) => texts.tokenize([s]).truncated > 0).length;
    expect(long).toBeGreaterThan(0);
    expect(truncated).toBe(long);
    const inMemory = await texts.encodeStream(sentences, { batchSize: 64 });
    expect(inMemory.rows).toBe(sentences.length);
    expect(maxAbsDiff(inMemory.data, expected.data)).toBeLessThan(1e-5);
    expect(numpyShapes([out])).toEqual([{ shape: [sentences.length, texts.outputDim], dtype: '<f4' }]);
  });

  it('encodeIterator yields each batch in input order, pulling the source only a few batches ahead', async () => {
    const expected = await images.encode(pictures.slice(0, 50));
    let pulled = 0;
    const starts: number[] = [];
    const rows: Float32Array[] = [];
    for await (const batch of images.encodeIterator(lazily(pictures.slice(0, 50), (i) => (pulled = i + 1)), { batchSize: 5, prefetch: 2 })) {
      // At most the batch just yielded, the one encoding and `prefetch` more have been pulled.
      expect(pulled).toBeLessThanOrEqual(batch.start + 5 * 3);
      expect(batch.dim).toBe(images.outputDim);
      starts.push(batch.start);
      rows.push(batch.data);
    }
    expect(starts).toEqual([0, 5, 10, 15, 20, 25, 30, 35, 40, 45]);
    const data = new Float32Array(rows.reduce((n, r) => n + r.length, 0));
    rows.reduce((offset, r) => (data.set(r, offset), offset + r.length), 0);
    expect(maxAbsDiff(data, expected.data)).toBeLessThan(1e-5);

    // Breaking out early closes the source.
    let closed = false;
    async function* endless() {
      try {
        for (let i = 0; ; i++) yield pictures[i % pictures.length]!;
      } finally {
        closed = true;
      }
    }
    for await (const batch of images.encodeIterator(endless(), { batchSize: 4 })) if (batch.start >= 8) break;
    expect(closed).toBe(true);

    // A source that throws: the batches read before it still come out, then its error.
    async function* breaks() {
      yield* pictures.slice(0, 40);
      throw new Error('source broke');
    }
    const seen: number[] = [];
    const consume = async () => {
      for await (const batch of images.encodeIterator(breaks(), { batchSize: 8, signal: new AbortController().signal })) seen.push(batch.start);
    };
    await expect(consume()).rejects.toThrow('source broke');
    expect(seen).toEqual([0, 8, 16, 24, 32]);
  });

  it('prepares the next batch while one encodes, and encodes ahead of a slow consumer (within prefetch)', async () => {
    const events: string[] = [];
    const model = images as EmbeddingModel & Record<'loadImages' | 'encodeBatch', unknown>;
    const { loadImages, encodeBatch } = images;
    let prepared = 0;
    let encoded = 0;
    model.loadImages = async function (this: EmbeddingModel, inputs: RawImage[]) {
      events.push(`prepare ${prepared++}`);
      return loadImages.call(this, inputs);
    };
    model.encodeBatch = async function (this: EmbeddingModel, batch: Parameters<EmbeddingModel['encodeBatch']>[0]) {
      const k = encoded++;
      events.push(`encode ${k}`);
      try {
        return await encodeBatch.call(this, batch);
      } finally {
        events.push(`encoded ${k}`);
      }
    };
    // A slow consumer holds batch 0 until the stream has encoded batch 2 (no timing: it waits for the
    // event, up to 10 s, so a loaded machine only makes it slower, and a stream that does not encode
    // ahead fails the assertion below after the cap).
    const until = async (event: string) => {
      for (let waited = 0; waited < 10_000 && !events.includes(event); waited += 5) await new Promise((done) => setTimeout(done, 5));
    };
    const run = async (slowConsumer: boolean) => {
      events.length = 0;
      prepared = 0;
      encoded = 0;
      for await (const batch of images.encodeIterator(pictures.slice(0, 24), { batchSize: 4, prefetch: 2 })) {
        const k = batch.start / 4;
        events.push(`consumer ${k}`);
        if (slowConsumer && k === 0) await until('encoded 2');
        events.push(`consumed ${k}`);
      }
      return (event: string) => {
        expect(events).toContain(event);
        return events.indexOf(event);
      };
    };
    try {
      let at = await run(false);
      for (let k = 1; k < 6; k++) {
        expect(at(`encode ${k}`)).toBeGreaterThan(at(`encoded ${k - 1}`)); // one encode at a time
        expect(at(`prepare ${k}`)).toBeLessThan(at(`encoded ${k - 1}`)); // prepared while the previous one encodes
        expect(at(`consumer ${k}`)).toBeGreaterThan(at(`encoded ${k}`));
      }
      at = await run(true);
      // While the consumer holds batch 0, batches 1 and 2 (prefetch) are encoded, and nothing more is pulled.
      expect(at('encoded 2')).toBeLessThan(at('consumed 0'));
      expect(at('prepare 3')).toBeGreaterThan(at('consumed 0'));
    } finally {
      delete (model as Partial<typeof model>).loadImages;
      delete (model as Partial<typeof model>).encodeBatch;
    }
  });

  it('batch boundaries: a multiple of batchSize, a single item, and zero items (a 0 x dim .npy)', async () => {
    const expected = await images.encode(pictures.slice(0, 12));
    const twelve = await images.encodeStream(pictures.slice(0, 12), { out: join(work.dir, 'twelve.npy'), batchSize: 4 });
    expect(twelve.rows).toBe(12);
    expect(maxAbsDiff((await readNpy(twelve.file)).data, expected.data)).toBeLessThan(1e-5);
    const one = await images.encodeStream(lazily(pictures.slice(0, 1)), { out: join(work.dir, 'one.npy'), batchSize: 4 });
    expect(one.rows).toBe(1);
    expect(maxAbsDiff((await readNpy(one.file)).data, expected.data.subarray(0, images.outputDim))).toBeLessThan(1e-5);
    const none = await images.encodeStream(lazily([]), { out: join(work.dir, 'none.npy') });
    expect(none).toMatchObject({ rows: 0, dim: images.outputDim });
    expect((await readNpy(none.file)).shape).toEqual([0, images.outputDim]);
    const noText = await texts.encodeStream([], { out: join(work.dir, 'none-text.npy') });
    expect(noText.rows).toBe(0);
    expect(numpyShapes([twelve.file, one.file, none.file, noText.file]).map((r) => r.shape)).toEqual([
      [12, images.outputDim],
      [1, images.outputDim],
      [0, images.outputDim],
      [0, texts.outputDim],
    ]);
  });

  it('an invalid image at item 37 rejects naming item 37 and leaves no file and no temporary file', async () => {
    const items = [...pictures.slice(0, 37), Buffer.from('not an image'), ...pictures.slice(37)];
    const out = join(work.dir, 'bad-image.npy');
    await expect(images.encodeStream(lazily(items), { out, batchSize: 8 })).rejects.toThrow(/^item 37: cannot load image Buffer: not an image/);
    expect(leftovers('bad-image.npy')).toEqual([]);

    const raw = [...pictures.slice(0, 37), { pixels: new Uint8Array(10), width: 32, height: 32, channels: 3 } as RawImage];
    await expect(images.encodeStream(raw, { out, batchSize: 8 })).rejects.toThrow(/^item 37: raw image has 10 bytes/);
    const path = [...pictures.slice(0, 37), join(work.dir, 'missing.png')];
    await expect(images.encodeStream(path, { out, batchSize: 8 })).rejects.toThrow(/^item 37: cannot load image .*missing\.png: file not found/);
    expect(leftovers('bad-image.npy')).toEqual([]);

    const textItems = [...sentences.slice(0, 37), '   ', ...sentences.slice(37)];
    await expect(texts.encodeStream(textItems, { out: join(work.dir, 'bad-text.npy'), batchSize: 8 })).rejects.toThrow(/^item 37: empty text/);
    await expect(texts.encodeStream([...sentences.slice(0, 37), 42 as unknown as string])).rejects.toThrow(/^item 37: expected a string/);
    expect(leftovers('bad-text.npy')).toEqual([]);

    // An existing file is left as it was.
    writeFileSync(out, 'old');
    await expect(images.encodeStream(lazily(items), { out, batchSize: 8 })).rejects.toThrow(/item 37/);
    expect(leftovers('bad-image.npy')).toEqual(['bad-image.npy']);

    // The source's own errors come through as they are.
    async function* failing() {
      yield pictures[0]!;
      throw new Error('source broke');
    }
    await expect(images.encodeStream(failing(), { out: join(work.dir, 'failing.npy') })).rejects.toThrow('source broke');
    expect(leftovers('failing.npy')).toEqual([]);
  });

  it('an abort rejects with the signal reason and leaves no file, also while the source hangs', async () => {
    const controller = new AbortController();
    const out = join(work.dir, 'aborted.npy');
    const endless = async function* () {
      for (let i = 0; ; i++) yield pictures[i % pictures.length]!;
    };
    const run = images.encodeStream(endless(), {
      out,
      batchSize: 4,
      signal: controller.signal,
      onProgress: (p) => p.done >= 20 && controller.abort(),
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(leftovers('aborted.npy')).toEqual([]);

    const hang = new AbortController();
    async function* hanging() {
      yield pictures[0]!;
      await new Promise(() => undefined);
    }
    const stuck = images.encodeStream(hanging(), { out, signal: hang.signal });
    setTimeout(() => hang.abort(new Error('took too long')), 50);
    await expect(stuck).rejects.toThrow('took too long');
    expect(leftovers('aborted.npy')).toEqual([]);

    await expect(images.encodeStream(pictures, { out, signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(leftovers('aborted.npy')).toEqual([]);
  });

  it('checks its options: the kind must fit the model, the source must be iterable', async () => {
    expect(() => texts.encodeIterator(sentences, { kind: 'image' })).toThrow(/is a text model: it cannot encode a stream of images/);
    expect(() => images.encodeIterator(pictures, { kind: 'text' })).toThrow(/is an image model/);
    expect(() => images.encodeIterator('abc' as never)).toThrow(/the source must be an iterable/);
    await expect(images.encodeStream(pictures, { batchSize: 0 })).rejects.toThrow(/batchSize/);
    await expect(images.encodeStream(pictures, { out: join(work.dir, 'no-such-dir', 'x.npy') })).rejects.toThrow(/cannot write .*: directory .*no-such-dir does not exist/);
  });
});

describe('NpyWriter', () => {
  it('appends batches and rewrites the header with the row count; abort removes the temporary file', async () => {
    const file = join(work.dir, 'writer.npy');
    const writer = await NpyWriter.create(file, 3);
    await writer.write(new Float32Array([1, 2, 3, 4, 5, 6]));
    await writer.write(new Float32Array([7, 8, 9]));
    expect(leftovers('writer.npy')).toEqual([writer.tempFile.slice(work.dir.length + 1)]);
    await expect(writer.write(new Float32Array(2))).rejects.toThrow(/not whole rows of 3/);
    expect(await writer.close()).toEqual({ file, rows: 3, dim: 3 });
    const { data, shape } = await readNpy(file);
    expect(shape).toEqual([3, 3]);
    expect(Array.from(data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const values = JSON.parse(execFileSync(PYTHON, ['-c', 'import sys, numpy as np; print(np.load(sys.argv[1]).tolist())', file], { encoding: 'utf8' }));
    expect(values).toEqual([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);

    const aborted = await NpyWriter.create(join(work.dir, 'writer-aborted.npy'), 3);
    await aborted.write(new Float32Array(3));
    await aborted.abort();
    await aborted.abort();
    expect(leftovers('writer-aborted')).toEqual([]);
  });
});

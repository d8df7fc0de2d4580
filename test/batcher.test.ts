// The dynamic batcher (model.batcher, lib/batcher.ts) on tiny exported models: concurrent calls become
// few native calls (counted on model.encodeBatch), every caller's rows equal model.encode of its own
// inputs, texts are grouped by length within maxBatchSize and maxBatchTokens, a full queue rejects at
// once, aborts (queued and in flight), bad items, truncate: false, native failures, close, and CLIP's two
// queues.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BatcherClosedError, BatcherInputError, InputTooLongError, loadModel, QueueFullError, type BatchInfo, type EmbeddingModel, type RawImage,
} from '../lib/index.js';
import { similarLengthBatch } from '../lib/text/batching.js';
import { writeBertTokenizer } from '../examples/tokenizers/wordpiece.js';
import { writeClipTokenizer } from '../examples/tokenizers/clipBpe.js';
import { exportTiny, maxAbsDiff, PYTHON, random, REPO_ROOT, syntheticImages, tempDir } from './helpers/fixtures.js';

const work = tempDir('batcher');
let texts: EmbeddingModel;
let images: EmbeddingModel;
let clip: EmbeddingModel;
let pictures: RawImage[];
let sentences: string[];
/** Texts of 1 to 10 words: close enough in length to share batches. */
let short: string[];

const WORDS = 'the a cat dog sat ran on under mat table quietly quickly red blue small large house river bright dark'.split(' ');
const MAX_LENGTH = 48;

function sentence(rand: () => number, words: number): string {
  return Array.from({ length: words }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
}

function exportWithTokenizer(name: string, out: string, tokenizer: string): string {
  execFileSync(PYTHON, [join(REPO_ROOT, 'scripts', 'export_torchscript'), name, '--out', out, '--size', 'tiny', '--random-init', '--tokenizer', tokenizer], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return out;
}

beforeAll(async () => {
  const rand = random(5);
  sentences = Array.from({ length: 120 }, (_, i) => sentence(rand, 1 + Math.floor(rand() * (i % 5 === 0 ? 40 : 10))));
  short = sentences.filter((_, i) => i % 5 !== 0);
  pictures = syntheticImages(20, 1, 32, 4).map((item) => item.image);
  const bertTokenizer = join(work.dir, 'bert-tokenizer.json');
  await writeBertTokenizer(bertTokenizer, sentences, { vocabSize: 200, lowercase: true });
  const clipTokenizer = join(work.dir, 'clip-tokenizer.json');
  await writeClipTokenizer(clipTokenizer, sentences, { vocabSize: 600 });
  texts = await loadModel(exportWithTokenizer('bert-base-cased', join(work.dir, 'bert'), bertTokenizer), { precision: 'fp32', device: 'cpu', maxLength: MAX_LENGTH });
  images = await loadModel(exportTiny('resnet50', join(work.dir, 'resnet50')), { precision: 'fp32', device: 'cpu', imageSize: 32 });
  clip = await loadModel(exportWithTokenizer('ViT-B-16::openai', join(work.dir, 'clip'), clipTokenizer), { precision: 'fp32', device: 'cpu' });
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(() => {
  texts?.dispose();
  images?.dispose();
  clip?.dispose();
  work.cleanup();
});

/** Rows `start` .. `start + count - 1` of an encode's data. */
function rowsOf(data: Float32Array, dim: number, start: number, count: number): Float32Array {
  return data.subarray(start * dim, (start + count) * dim);
}

/**
 * Holds model.encodeBatch (still the real one, counted) until release(): a batch stays in flight while
 * a test queues or aborts behind it. release() lets the calls made so far run and holds later ones;
 * stop() lets everything run.
 */
function holdNative(model: EmbeddingModel) {
  const original = model.encodeBatch.bind(model);
  let held = true;
  let open!: () => void;
  let gate = new Promise<void>((resolve) => (open = resolve));
  const spy = vi.spyOn(model, 'encodeBatch').mockImplementation(async (batch) => {
    if (held) await gate;
    return original(batch);
  });
  return {
    spy,
    release: () => {
      open();
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    stop: () => {
      held = false;
      open();
    },
  };
}

/** Lets pending preparations (tokenizing, decoding) finish. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

function recordBatches(batcher: { onBatch?: (info: BatchInfo) => void }): BatchInfo[] {
  const infos: BatchInfo[] = [];
  batcher.onBatch = (info) => infos.push(info);
  return infos;
}

describe('similarLengthBatch', () => {
  it('always takes the oldest text, then the closest lengths, within rows, tokens and padding', () => {
    // The oldest is short: the short ones join it, the long ones (too much padding) do not.
    expect(similarLengthBatch([5, 40, 6, 41, 4, 5], { maxRows: 32, maxTokens: 10_000 })).toEqual([0, 2, 4, 5]);
    // The oldest is long: only texts of similar length join.
    expect(similarLengthBatch([40, 5, 41, 6, 39], { maxRows: 32, maxTokens: 10_000 })).toEqual([0, 2, 4]);
    // maxRows, then maxTokens (rows x longest) bound the batch.
    expect(similarLengthBatch([10, 10, 10, 10, 10], { maxRows: 3, maxTokens: 10_000 })).toHaveLength(3);
    expect(similarLengthBatch([10, 11, 9, 10, 10], { maxRows: 32, maxTokens: 33 })).toEqual([0, 3, 4]);
    // A few tokens of padding are allowed whatever the share; more than that and more than half are not.
    expect(similarLengthBatch([5, 12, 20], { maxRows: 32, maxTokens: 10_000 })).toEqual([0, 1, 2]);
    expect(similarLengthBatch([5, 30], { maxRows: 32, maxTokens: 10_000 })).toEqual([0]);
    // A text longer than maxTokens still runs, alone.
    expect(similarLengthBatch([50, 50], { maxRows: 32, maxTokens: 40 })).toEqual([0]);
    expect(similarLengthBatch([], { maxRows: 4, maxTokens: 40 })).toEqual([]);
  });
});

describe('EncodeBatcher', () => {
  it('coalesces concurrent one-text calls into few native calls, each row equal to model.encode', async () => {
    const expected = await texts.encode(short.slice(0, 33));
    const batcher = texts.batcher({ maxWaitMs: 0 });
    const infos = recordBatches(batcher);
    const native = holdNative(texts);
    // The first call starts a batch at once (nothing waits: maxWaitMs 0); the 32 after it arrive while it
    // runs and go together into the next.
    const pending = short.slice(0, 33).map((text) => batcher.encode(text));
    await settle();
    expect(native.spy).toHaveBeenCalledTimes(1);
    expect(batcher.queued).toBe(32);
    native.stop();
    const rows = await Promise.all(pending);
    expect(native.spy).toHaveBeenCalledTimes(2);
    expect(infos.map((info) => info.rows)).toEqual([1, 32]);
    expect(infos.map((info) => info.requests)).toEqual([1, 32]);
    rows.forEach((row, i) => expect(maxAbsDiff(row, rowsOf(expected.data, texts.outputDim, i, 1))).toBeLessThan(1e-5));

    // Without holding the model: 100 concurrent calls, never more than maxBatchSize a batch.
    vi.restoreAllMocks();
    const counted = vi.spyOn(texts, 'encodeBatch');
    const many = await Promise.all(sentences.slice(0, 100).map((text) => batcher.encode(text)));
    expect(many).toHaveLength(100);
    expect(counted.mock.calls.length).toBeLessThanOrEqual(12);
    expect(Math.max(...infos.slice(2).map((info) => info.rows))).toBeLessThanOrEqual(32);
    await batcher.close();
  });

  it('splits mixed request sizes back to each caller in its input order, within maxBatchSize', async () => {
    const sizes = [1, 5, 3, 17, 2, 9, 1, 12];
    const requests: string[][] = [];
    let start = 0;
    for (const size of sizes) {
      requests.push(sentences.slice(start, start + size));
      start += size;
    }
    const expected = await texts.encode(sentences.slice(0, start));
    const batcher = texts.batcher({ maxBatchSize: 8, maxWaitMs: 5 });
    const infos = recordBatches(batcher);
    const results = await Promise.all(requests.map((inputs) => batcher.encodeMany(inputs)));
    let offset = 0;
    results.forEach((result, r) => {
      expect(result.rows).toBe(sizes[r]);
      expect(result.dim).toBe(texts.outputDim);
      expect(maxAbsDiff(result.data, rowsOf(expected.data, texts.outputDim, offset, sizes[r]!))).toBeLessThan(1e-5);
      offset += sizes[r]!;
    });
    expect(Math.max(...infos.map((info) => info.rows))).toBeLessThanOrEqual(8);
    expect(infos.reduce((n, info) => n + info.rows, 0)).toBe(start);
    expect(infos.length).toBeLessThanOrEqual(Math.ceil(start / 8) + 2);
    await batcher.close();
  });

  it('puts queued short and long texts in different batches, within maxBatchTokens', async () => {
    const rand = random(9);
    const short = Array.from({ length: 8 }, () => sentence(rand, 2));
    const long = Array.from({ length: 8 }, () => sentence(rand, 30));
    const mixed = short.flatMap((text, i) => [text, long[i]!]);
    const lengths = texts.tokenizer.encode(mixed).ids.map((ids) => ids.length);
    const batcher = texts.batcher({ maxWaitMs: 50 });
    const infos = recordBatches(batcher);
    const native = vi.spyOn(texts, 'encodeBatch');
    const rows = await Promise.all(mixed.map((text) => batcher.encode(text)));
    expect(native).toHaveBeenCalledTimes(2);
    const shortest = Math.max(...lengths.filter((_, i) => i % 2 === 0));
    const longest = Math.max(...lengths);
    // One batch of the 8 short texts padded to the longest short one, one of the 8 long ones.
    expect(infos.map((info) => info.paddedTokens).sort((a, b) => a! - b!)).toEqual([8 * shortest, 8 * longest]);
    const expected = await texts.encode(mixed);
    rows.forEach((row, i) => expect(maxAbsDiff(row, rowsOf(expected.data, texts.outputDim, i, 1))).toBeLessThan(1e-5));
    await batcher.close();

    // maxBatchTokens: no batch of rows x padded length above it (a 16-text request of similar lengths).
    const similar = Array.from({ length: 16 }, () => sentence(rand, 12));
    const tokensBound = texts.batcher({ maxBatchTokens: 60, maxWaitMs: 20 });
    const bounded = recordBatches(tokensBound);
    const result = await tokensBound.encodeMany(similar);
    expect(Math.max(...bounded.map((info) => info.paddedTokens!))).toBeLessThanOrEqual(60);
    expect(bounded.length).toBeGreaterThan(1);
    expect(maxAbsDiff(result.data, (await texts.encode(similar)).data)).toBeLessThan(1e-5);
    await tokensBound.close();
  });

  it('rejects a request that does not fit the queue at once, never holds more than maxQueue, and frees capacity', async () => {
    const batcher = texts.batcher({ maxQueue: 8, maxWaitMs: 0, maxBatchSize: 4 });
    const native = holdNative(texts);
    let maxSeen = 0;
    batcher.onBatch = () => (maxSeen = Math.max(maxSeen, batcher.queued));
    const running = batcher.encode(sentences[0]!);
    await settle(); // in a native batch: it holds no capacity any more
    expect(batcher.queued).toBe(0);
    const accepted = [batcher.encodeMany(sentences.slice(1, 6)), batcher.encodeMany(sentences.slice(6, 9))];
    expect(batcher.queued).toBe(8); // capacity is taken before the texts are tokenized
    const error = await batcher.encode(sentences[9]!).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as QueueFullError).code).toBe('QUEUE_FULL');
    expect((error as QueueFullError).retryAfterMs).toBeGreaterThan(0);
    expect((error as Error).message).toMatch(/text queue is full: 8 of 8 inputs queued, 1 more do not fit/);
    expect(native.spy).toHaveBeenCalledTimes(1); // rejected while the first batch is still running
    await expect(batcher.encodeMany(sentences.slice(0, 9))).rejects.toThrow(RangeError);
    native.stop();
    await Promise.all([running, ...accepted]);
    expect(maxSeen).toBeLessThanOrEqual(8);
    expect(batcher.queued).toBe(0);
    const again = await batcher.encodeMany(sentences.slice(10, 18));
    expect(again.rows).toBe(8);
    await batcher.close();
  });

  it('aborts: queued inputs leave the queue at once; an in-flight caller is rejected while its batch serves the others', async () => {
    const batcher = texts.batcher({ maxWaitMs: 0 });
    const infos = recordBatches(batcher);
    const native = holdNative(texts);
    const reason = new Error('client went away');
    const running = batcher.encode(short[0]!);
    const queuedAbort = new AbortController();
    const dropped = batcher.encodeMany(short.slice(1, 5), { signal: queuedAbort.signal });
    const kept = batcher.encodeMany(short.slice(5, 7));
    await settle(); // both prepared and queued behind the running batch
    expect(batcher.queued).toBe(6);
    queuedAbort.abort(reason);
    expect(batcher.queued).toBe(2);
    await expect(dropped).rejects.toBe(reason);

    // In flight: the aborted caller gets the reason at once, the others in its batch their rows.
    const inFlight = new AbortController();
    const neighbour = batcher.encodeMany(short.slice(7, 10));
    const aborted = batcher.encodeMany(short.slice(10, 12), { signal: inFlight.signal });
    await settle();
    native.release(); // the first batch runs; the next (kept, neighbour, aborted) is held in flight
    await running;
    await settle();
    expect(native.spy).toHaveBeenCalledTimes(2);
    expect(batcher.queued).toBe(0);
    inFlight.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    native.stop();
    const [keptRows, neighbourRows] = await Promise.all([kept, neighbour]);
    expect(infos.map((info) => [info.rows, info.requests])).toEqual([[1, 1], [7, 3]]);
    const expected = await texts.encode(short.slice(5, 10));
    expect(maxAbsDiff(keptRows.data, rowsOf(expected.data, texts.outputDim, 0, 2))).toBeLessThan(1e-5);
    expect(maxAbsDiff(neighbourRows.data, rowsOf(expected.data, texts.outputDim, 2, 3))).toBeLessThan(1e-5);
    // An already aborted signal rejects before anything is queued.
    await expect(batcher.encode('x', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(batcher.queued).toBe(0);
    await batcher.close();
  });

  it('tokenizes a large request in chunks, leaving the event loop free', async () => {
    const batcher = texts.batcher({ maxQueue: 2048 });
    const many = Array.from({ length: 1200 }, (_, i) => short[i % short.length]!);
    const native = vi.spyOn(texts, 'encodeBatch');
    let turns = 0;
    let stop = false;
    const spin = () => {
      if (stop) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    const pending = batcher.encodeMany(many);
    await vi.waitFor(() => expect(native).toHaveBeenCalled(), { interval: 1 });
    const turnsBeforeEncode = turns;
    const result = await pending;
    stop = true;
    expect(turnsBeforeEncode).toBeGreaterThanOrEqual(Math.floor(1200 / 64) - 1); // a turn of the event loop between chunks
    expect(result.rows).toBe(1200);
    await batcher.close();
  });

  it('rejects only the request with a bad item, naming its index; truncate: false refuses a text that is too long', async () => {
    const batcher = texts.batcher();
    const good = batcher.encodeMany(sentences.slice(0, 3));
    const bad = batcher.encodeMany(['a cat', 'the dog', 42 as unknown as string]);
    const empty = batcher.encodeMany(['a cat', '  ']);
    await expect(bad).rejects.toThrow(BatcherInputError);
    await expect(bad).rejects.toThrow(/^input\[2\]: expected a string \(a text\), got number/);
    await expect(empty).rejects.toMatchObject({ code: 'BAD_INPUT', index: 1 });
    expect((await good).rows).toBe(3);

    const long = sentence(random(3), 200);
    const tokens = texts.tokenizer.encode([long], { maxLength: 100_000 }).ids[0]!.length;
    const refused = await batcher.encodeMany(['a cat', long], { truncate: false }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InputTooLongError);
    expect(refused).toMatchObject({ code: 'INPUT_TOO_LONG', index: 1, tokens, maxTokens: MAX_LENGTH });
    expect((refused as Error).message).toMatch(new RegExp(`^input\\[1\\]: the text has ${tokens} tokens, more than the model's maximum of ${MAX_LENGTH}`));
    // Truncated by default, as model.encode does.
    const cut = await batcher.encode(long);
    expect(maxAbsDiff(cut, (await texts.encode([long])).data)).toBeLessThan(1e-5);
    expect(batcher.queued).toBe(0);
    await batcher.close();
  });

  it('a native failure rejects only its batch; onBatch errors are ignored; close drains; a disposed model says so', async () => {
    const batcher = texts.batcher({ maxWaitMs: 0 });
    const infos: BatchInfo[] = [];
    batcher.onBatch = (info) => {
      infos.push(info);
      throw new Error('metrics are broken');
    };
    const original = texts.encodeBatch.bind(texts);
    vi.spyOn(texts, 'encodeBatch')
      .mockImplementationOnce(async () => {
        throw new Error('out of memory');
      })
      .mockImplementation(original);
    const failed = batcher.encodeMany(short.slice(0, 2));
    const later = [batcher.encodeMany(short.slice(2, 5)), batcher.encode(short[5]!)];
    await expect(failed).rejects.toThrow(/encoding a batch of 2 text inputs failed: out of memory/);
    const [three, one] = await Promise.all(later);
    expect((three as { rows: number }).rows).toBe(3);
    expect(one).toHaveLength(texts.outputDim);
    expect(infos[0]!.error).toBeInstanceOf(Error);

    // close: what was accepted still runs, new calls are refused, close resolves once drained.
    const pending = [batcher.encodeMany(sentences.slice(10, 20)), batcher.encode(sentences[20]!)];
    const closed = batcher.close();
    await expect(batcher.encode('a cat')).rejects.toThrow(BatcherClosedError);
    let drained = false;
    await closed.then(() => (drained = true));
    expect(drained).toBe(true);
    const [ten] = await Promise.all(pending);
    expect((ten as { rows: number }).rows).toBe(10);
    expect(batcher.queued).toBe(0);

    const copy = await loadModel(join(work.dir, 'bert'), { precision: 'fp32', device: 'cpu', maxLength: MAX_LENGTH });
    const orphan = copy.batcher();
    copy.dispose();
    await expect(orphan.encode('a cat')).rejects.toThrow(/has been disposed/);
    expect(() => texts.batcher({ maxBatchSize: 0 })).toThrow(/option 'maxBatchSize' must be a positive integer, got 0/);
    expect(() => texts.batcher({ maxWaitMs: Number.NaN })).toThrow(/option 'maxWaitMs'/);
  });

  it('images: first come, first batched; rows equal model.encode; a bad image rejects its request naming the index', async () => {
    const expected = await images.encode(pictures);
    const batcher = images.batcher({ maxBatchSize: 8, maxWaitMs: 0 });
    const infos = recordBatches(batcher);
    const one = batcher.encode(pictures[0]!);
    const many = batcher.encodeMany(pictures.slice(1, 12));
    const rest = batcher.encodeMany(pictures.slice(12));
    const bad = batcher.encodeMany([pictures[0]!, pictures[1]!, Buffer.from('not an image')]).catch((e: unknown) => e);
    const rows = [await one, (await many).data, (await rest).data];
    expect(maxAbsDiff(rows[0]!, rowsOf(expected.data, images.outputDim, 0, 1))).toBeLessThan(1e-5);
    expect(maxAbsDiff(rows[1]!, rowsOf(expected.data, images.outputDim, 1, 11))).toBeLessThan(1e-5);
    expect(maxAbsDiff(rows[2]!, rowsOf(expected.data, images.outputDim, 12, 8))).toBeLessThan(1e-5);
    expect(await bad).toMatchObject({ code: 'BAD_INPUT', index: 2, message: expect.stringMatching(/^input\[2\]: .*not an image/) });
    expect(Math.max(...infos.map((info) => info.rows))).toBeLessThanOrEqual(8);
    expect(infos.every((info) => info.kind === 'image')).toBe(true);
    await batcher.close();
  });

  it('CLIP: texts and images queue separately, each batch of one kind, rows equal encodeText / encodeImage', async () => {
    const captions = sentences.slice(0, 6);
    const [expectedTexts, expectedImages] = [await clip.encodeText(captions), await clip.encodeImage(pictures.slice(0, 6))];
    const batcher = clip.batcher({ maxWaitMs: 20 });
    const infos = recordBatches(batcher);
    const calls = [
      ...captions.map((text) => batcher.encode(text)),
      ...pictures.slice(0, 6).map((image) => batcher.encode(image)),
    ];
    await vi.waitFor(() => expect(batcher.queuedOf('text') + batcher.queuedOf('image')).toBe(batcher.queued));
    const rows = await Promise.all(calls);
    expect(infos.map((info) => info.kind).sort()).toEqual(['image', 'text']);
    expect(infos.map((info) => info.rows)).toEqual([6, 6]);
    rows.slice(0, 6).forEach((row, i) => expect(maxAbsDiff(row, rowsOf(expectedTexts.data, clip.outputDim, i, 1))).toBeLessThan(1e-5));
    rows.slice(6).forEach((row, i) => expect(maxAbsDiff(row, rowsOf(expectedImages.data, clip.outputDim, i, 1))).toBeLessThan(1e-5));
    // kind says which tower a string goes to; a kind the model lacks is refused.
    await expect(batcher.encode('a cat', { kind: 'image' })).rejects.toThrow(/input\[0\]/);
    await expect(texts.batcher().encode('a cat', { kind: 'image' })).rejects.toThrow(/option 'kind' must be 'text'/);
    await expect(batcher.encodeMany(['a cat', 'a dog', pictures[0]!])).rejects.toThrow(/^input\[2\]: an image among texts/);
    await batcher.close();
  });
});

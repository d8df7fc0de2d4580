// Streaming encode: items pulled from an iterator (sync or async) in batches, each batch prepared (images
// decoded with sharp, texts tokenized) while the batch before it encodes in native code, and the rows
// handed on batch by batch in input order: yielded by encodeIterator, or appended to a .npy file by
// encodeStream. Memory stays flat however long the stream: at most 1 + `prefetch` batches are held at a
// time (the one encoding and those prepared ahead), and nothing pulls the source further than that.
//
// Order of work for batch k: its preparation starts once batch k-1's preparation is done (so sharp never
// has more than one batch of decodes queued on the libuv pool, ahead of the native encode), and its
// encode starts as soon as both its preparation and batch k-1's encode are done, without waiting for
// the consumer to take batch k-1's rows: the native side is never idle while a prepared batch waits.

import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { NativeBatch } from './binding.js';
import { imageInputProblem, type ImageInput } from './data/images.js';
import { rethrowWithCallerStack } from './errors.js';
import type { EmbeddingModel, Embeddings } from './model.js';
import { NpyWriter, type NpyWriterResult } from './npyWriter.js';
import type { TokenizedTexts } from './text/tokenizer.js';

/** What the items of a stream are. */
export type StreamKind = 'text' | 'image';

/** A stream item: a string (a text, or an image path), an encoded image Buffer or raw pixels. */
export type StreamItem = string | ImageInput;

export interface StreamProgress {
  /** Items encoded so far. */
  done: number;
  /** Text streams: items truncated to the model's maximum length so far. */
  truncated?: number;
}

export interface EncodeIteratorOptions {
  /** Items per native call. Default 32. */
  batchSize?: number;
  /**
   * What the items are. Default: the model's modality (texts for a text model, images for an image
   * model); a CLIP model needs it.
   */
  kind?: StreamKind;
  /** Batches prepared ahead of the one encoding. Default 2. */
  prefetch?: number;
  /** Called after each batch is encoded. */
  onProgress?: (progress: StreamProgress) => void;
  /** Aborting stops the stream: the promise (or the iterator's next()) rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface EncodeStreamOptions extends EncodeIteratorOptions {
  /**
   * The .npy file to write (float32, rows x dim), written progressively under a temporary name and
   * renamed into place when complete. Without it the rows are collected in memory.
   */
  out?: string;
}

/** One encoded batch of encodeIterator: rows `start` to `start + rows - 1` of the stream. */
export interface EncodedRows {
  start: number;
  rows: number;
  dim: number;
  /** rows * dim floats, row-major. */
  data: Float32Array;
}

export type EncodeStreamResult = NpyWriterResult;

export type StreamSource<T extends StreamItem = StreamItem> = AsyncIterable<T> | Iterable<T>;

interface Settings {
  kind: StreamKind;
  batchSize: number;
  prefetch: number;
  onProgress?: (progress: StreamProgress) => void;
  signal?: AbortSignal;
}

interface Prepared {
  batch: NativeBatch;
  truncated: number;
}

interface Encoded {
  data: Float32Array;
  truncated: number;
}

interface Pending {
  start: number;
  count: number;
  result: Promise<Encoded>;
}

const noop = (): void => undefined;

function integerOption(value: unknown, option: string, minimum: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || (value as number) < minimum) {
    throw new TypeError(`option '${option}' must be an integer of at least ${minimum}, got ${JSON.stringify(value)}`);
  }
  return value as number;
}

function resolveKind(model: EmbeddingModel, kind: unknown): StreamKind {
  if (kind !== undefined && kind !== 'text' && kind !== 'image') {
    throw new TypeError(`option 'kind' must be 'text' or 'image', got ${JSON.stringify(kind)}`);
  }
  const modality = model.modality;
  if (modality === 'text-image') {
    if (kind === undefined) {
      throw new TypeError(`${model.name} is a CLIP model: pass option kind: 'text' or 'image' to say what the stream holds`);
    }
    return kind;
  }
  if (kind !== undefined && kind !== modality) {
    throw new TypeError(`${model.name} is ${modality === 'text' ? 'a text' : 'an image'} model: it cannot encode a stream of ${kind}s`);
  }
  return modality;
}

function settingsOf(model: EmbeddingModel, source: unknown, options: EncodeIteratorOptions): Settings {
  if (model.disposed) throw new Error(`the model ${model.name} has been disposed`);
  if (typeof options !== 'object' || options === null) throw new TypeError('encodeStream options must be an object');
  if (typeof source === 'string' || source === null || typeof source !== 'object' ||
    (typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function' &&
      typeof (source as Iterable<unknown>)[Symbol.iterator] !== 'function')) {
    throw new TypeError('the source must be an iterable or async iterable of items (an array, a generator, a readline interface, ...)');
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new TypeError("option 'onProgress' must be a function");
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new TypeError("option 'signal' must be an AbortSignal");
  return {
    kind: resolveKind(model, options.kind),
    batchSize: integerOption(options.batchSize, 'batchSize', 1, 32),
    prefetch: integerOption(options.prefetch, 'prefetch', 0, 2),
    onProgress: options.onProgress,
    signal: options.signal,
  };
}

function itemError(index: number, message: string, cause?: unknown): Error {
  return new Error(`item ${index}: ${message}`, cause === undefined ? undefined : { cause });
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (Buffer.isBuffer(value)) return 'a Buffer';
  return typeof value;
}

function batchError(start: number, count: number, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  const which = count === 1 ? `item ${start}` : `items ${start}-${start + count - 1}`;
  return new Error(`${which}: ${message}`, { cause: error });
}

// Texts tokenized between two yields to the event loop: tokenizing runs on the main thread, and an
// encode that finishes meanwhile is only seen (and the next one started) at the next yield. About 30 us a
// text, so the model waits at most a quarter of a millisecond.
const TOKENIZE_CHUNK = 8;

async function prepareTexts(model: EmbeddingModel, items: readonly unknown[], start: number): Promise<Prepared> {
  items.forEach((text, i) => {
    if (typeof text !== 'string') throw itemError(start + i, `expected a string (a text), got ${describeValue(text)}`);
    if (text.trim() === '') {
      throw itemError(start + i, `empty text (${text === '' ? 'an empty string' : 'only whitespace'}); every text needs something to embed`);
    }
  });
  const tokenizer = model.tokenizer;
  const tokenized: TokenizedTexts = { ids: [], typeIds: [], truncatedMask: new Uint8Array(items.length), truncated: 0 };
  try {
    for (let i = 0; i < items.length; i += TOKENIZE_CHUNK) {
      if (i > 0) await yieldToEventLoop();
      const part = tokenizer.encode(items.slice(i, i + TOKENIZE_CHUNK) as string[], { source: 'item', offset: start + i });
      tokenized.ids.push(...part.ids);
      tokenized.typeIds.push(...part.typeIds);
      tokenized.truncatedMask.set(part.truncatedMask, i);
      tokenized.truncated += part.truncated;
    }
    const batch = tokenizer.collate(tokenized);
    return { batch, truncated: batch.truncated };
  } catch (error) {
    throw batchError(start, items.length, error);
  }
}

async function prepareImages(model: EmbeddingModel, items: readonly unknown[], start: number): Promise<Prepared> {
  items.forEach((image, i) => {
    const problem = imageInputProblem(image);
    if (problem) throw itemError(start + i, problem);
  });
  try {
    return { batch: await model.loadImages(items as ImageInput[]), truncated: 0 };
  } catch (error) {
    // loadImageBatch names the failing input by its index in the batch: inputs[k].
    const message = error instanceof Error ? error.message : String(error);
    const local = /inputs\[(\d+)\]/.exec(message);
    if (!local) throw batchError(start, items.length, error);
    // 'Cannot load image a.png (inputs[3]): ...', 'Cannot load image Buffer inputs[3]: ...', 'loadImageBatch: inputs[3]: ...'
    const reason = message.replace(/^loadImageBatch: /, '').replace(/ ?\(?inputs\[\d+\]\)?:/, ':').replace(/^:\s*/, '');
    throw itemError(start + Number(local[1]), reason.charAt(0).toLowerCase() + reason.slice(1), error);
  }
}

/**
 * `promise`, or the signal's reason once it aborts, whichever comes first. The listener is removed when
 * the promise settles: racing against one long-lived "aborted" promise instead would leave a reaction on
 * it per call, growing with the stream.
 */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Pulls items from a sync or async iterator, `count` at a time. */
class SourceReader {
  /** The source is exhausted, failed, or was closed. */
  done = false;
  private pulling = false;
  private readonly iterator: Iterator<unknown> | AsyncIterator<unknown>;

  constructor(source: StreamSource) {
    const asyncIterable = source as AsyncIterable<unknown>;
    this.iterator =
      typeof asyncIterable[Symbol.asyncIterator] === 'function'
        ? asyncIterable[Symbol.asyncIterator]()
        : (source as Iterable<unknown>)[Symbol.iterator]();
  }

  async read(count: number): Promise<unknown[]> {
    const items: unknown[] = [];
    try {
      while (items.length < count && !this.done) {
        let step = this.iterator.next();
        if (step instanceof Promise) {
          this.pulling = true;
          step = await step;
          this.pulling = false;
        }
        if (step.done) this.done = true;
        else items.push(step.value);
      }
    } catch (error) {
      this.done = true; // a source that threw is finished
      this.pulling = false;
      throw error;
    }
    return items;
  }

  /** Lets the source clean up (closes a generator, a readline interface...) when the stream stops early. */
  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    const closing = this.iterator.return?.();
    // A pull still pending (interrupted by an abort) would make the source's return() wait for it.
    if (closing instanceof Promise) {
      if (this.pulling) closing.catch(noop);
      else await closing.catch(noop);
    }
  }
}

async function* pipeline(model: EmbeddingModel, source: StreamSource, s: Settings): AsyncGenerator<EncodedRows, void, undefined> {
  const { signal, batchSize } = s;
  signal?.throwIfAborted();
  const dim = model.outputDim;
  const reader = new SourceReader(source);
  const queue: Pending[] = [];
  let stopped = false;
  let next = 0;
  let lastPrepared: Promise<unknown> = Promise.resolve();
  let lastEncoded: Promise<unknown> = Promise.resolve();

  const schedule = (items: unknown[], start: number): Pending => {
    const prepared = lastPrepared.then(() => {
      if (stopped) throw new Error('stopped');
      return s.kind === 'text' ? prepareTexts(model, items, start) : prepareImages(model, items, start);
    });
    lastPrepared = prepared.catch(noop);
    const result = Promise.all([prepared, lastEncoded]).then(async ([{ batch, truncated }]) => {
      if (stopped) throw new Error('stopped');
      let data: Float32Array;
      try {
        data = await model.encodeBatch(batch);
      } catch (error) {
        throw batchError(start, items.length, error);
      }
      if (data.length !== items.length * dim) {
        throw batchError(start, items.length, new Error(`the model returned ${data.length} values, expected ${items.length} x ${dim}`));
      }
      return { data, truncated };
    });
    lastEncoded = result.catch(noop);
    result.catch(noop); // rejections are reported when the batch's turn comes
    return { start, count: items.length, result };
  };

  // Keeps the batch encoding plus `prefetch` more scheduled, pulling the source only that far. A source
  // that throws ends the stream after the batches read before it (its error takes the next turn).
  const fill = async (): Promise<void> => {
    while (!reader.done && queue.length < s.prefetch + 1) {
      let items: unknown[];
      try {
        items = await raceAbort(reader.read(batchSize), signal);
      } catch (error) {
        signal?.throwIfAborted();
        const result = Promise.reject(error);
        result.catch(noop);
        queue.push({ start: next, count: 0, result });
        return;
      }
      if (items.length === 0) break;
      queue.push(schedule(items, next));
      next += items.length;
    }
  };

  let done = 0;
  let truncated = 0;
  try {
    await fill();
    while (queue.length > 0) {
      signal?.throwIfAborted();
      const head = queue[0]!;
      const encoded = await raceAbort(head.result, signal);
      queue.shift();
      done += head.count;
      truncated += encoded.truncated;
      s.onProgress?.(s.kind === 'text' ? { done, truncated } : { done });
      yield { start: head.start, rows: head.count, dim, data: encoded.data };
      signal?.throwIfAborted();
      await fill();
    }
  } finally {
    stopped = true;
    queue.length = 0;
    await reader.close();
  }
}

/**
 * Encodes a stream of items batch by batch, yielding each batch's rows in input order. Items are pulled
 * from `source` only as fast as they are encoded (1 + prefetch batches ahead at most), so memory stays
 * flat however long the stream. Errors name the item (`item 12345: ...`, counted from 0 over the whole
 * stream). Breaking out of the loop closes the source.
 */
export function encodeIterator(model: EmbeddingModel, source: StreamSource, options: EncodeIteratorOptions = {}): AsyncGenerator<EncodedRows, void, undefined> {
  return pipeline(model, source, settingsOf(model, source, options));
}

/**
 * Encodes a stream of items into a float32 .npy file written as the batches come (`out`; resolves to
 * { file, rows, dim }), or, without `out`, into memory ({ rows, dim, data }). The file is written under
 * a temporary name and renamed into place at the end: an error or an abort leaves no file behind.
 */
export async function encodeStream(model: EmbeddingModel, source: StreamSource, options: EncodeStreamOptions & { out: string }): Promise<EncodeStreamResult>;
export async function encodeStream(model: EmbeddingModel, source: StreamSource, options?: EncodeStreamOptions & { out?: undefined }): Promise<Embeddings>;
export async function encodeStream(model: EmbeddingModel, source: StreamSource, options?: EncodeStreamOptions): Promise<EncodeStreamResult | Embeddings>;
export async function encodeStream(model: EmbeddingModel, source: StreamSource, options: EncodeStreamOptions = {}): Promise<EncodeStreamResult | Embeddings> {
  const caller = new Error();
  try {
    const out = options.out;
    if (out !== undefined && (typeof out !== 'string' || out === '')) throw new TypeError(`option 'out' must be a file path, got ${JSON.stringify(out)}`);
    const batches = encodeIterator(model, source, options);
    return out === undefined ? await collect(batches, model.outputDim) : await writeNpyStream(batches, out, model.outputDim, options.signal);
  } catch (error) {
    rethrowWithCallerStack(error, caller);
  }
}

async function collect(batches: AsyncGenerator<EncodedRows>, dim: number): Promise<Embeddings> {
  const chunks: Float32Array[] = [];
  let rows = 0;
  for await (const batch of batches) {
    chunks.push(batch.data);
    rows += batch.rows;
  }
  const data = new Float32Array(rows * dim);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.length;
  }
  return { rows, dim, data };
}

async function writeNpyStream(batches: AsyncGenerator<EncodedRows>, out: string, dim: number, signal?: AbortSignal): Promise<EncodeStreamResult> {
  signal?.throwIfAborted();
  const writer = await NpyWriter.create(out, dim);
  // Batch k's rows are written while batch k+1 encodes; one write in flight at most.
  let writing: Promise<void> | undefined;
  try {
    for await (const batch of batches) {
      await writing;
      writing = writer.write(batch.data);
      writing.catch(noop);
    }
    await writing;
    signal?.throwIfAborted();
    return await writer.close();
  } catch (error) {
    await writing?.catch(noop);
    await writer.abort();
    throw error;
  }
}

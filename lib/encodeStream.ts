// Streaming encode: items pulled from an iterator (sync or async) in batches, each batch prepared (images
// decoded with sharp, texts tokenized: the model's input kind knows how, lib/modalities/) while the batch
// before it encodes in native code, and the rows handed on batch by batch in input order: yielded by
// encodeIterator, or appended to a .npy file by encodeStream. The loop is lib/encodePipeline.ts, the one
// every encode runs through; this file reads the source and names the items in errors. Memory stays flat
// however long the stream: at most 1 + `prefetch` batches are held at a time (the one encoding and those
// prepared ahead), and nothing pulls the source further than that.

import type { ImageInput } from './data/images.js';
import { batchError, encodePipeline, noop, raceAbort, type EncodeJob, type Embeddings, type JobSource } from './encodePipeline.js';
import { rethrowWithCallerStack } from './errors.js';
import { INPUT_KINDS, modalityNamed, type InputKindUnit } from './modalities/index.js';
import type { EncodingModel } from './modalities/modality.js';
import { NpyWriter, type NpyWriterResult } from './npyWriter.js';
import { numberOr } from './numericOption.js';

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
  kind: InputKindUnit;
  batchSize: number;
  prefetch: number;
  onProgress?: (progress: StreamProgress) => void;
  signal?: AbortSignal;
}

function integerOption(value: unknown, option: string, minimum: number, fallback: number): number {
  return numberOr(value, option, { integer: true, min: minimum }, fallback);
}

function resolveKind(model: EncodingModel, kind: unknown): InputKindUnit {
  if (kind !== undefined && !INPUT_KINDS.some((unit) => unit.kind === kind)) {
    throw new TypeError(`option 'kind' must be ${INPUT_KINDS.map((unit) => `'${unit.kind}'`).join(' or ')}, got ${JSON.stringify(kind)}`);
  }
  const modality = modalityNamed(model.modality);
  if (modality.inputs.length > 1 && kind === undefined) {
    throw new TypeError(`${model.name} is a CLIP model: pass option kind: 'text' or 'image' to say what the stream holds`);
  }
  const unit = modality.inputs.find((input) => input.kind === (kind ?? modality.inputs[0]!.kind));
  if (!unit) throw new TypeError(`${model.name} is ${modality.described} model: it cannot encode a stream of ${kind}s`);
  return unit;
}

function settingsOf(model: EncodingModel, source: unknown, options: EncodeIteratorOptions): Settings {
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

interface StreamJob extends EncodeJob {
  start: number;
}

/** The stream's batches as pipeline jobs. A source that throws ends the stream after the batches read before it (its error takes the next turn). */
function streamJobs(model: EncodingModel, reader: SourceReader, s: Settings): JobSource<StreamJob> {
  let next = 0;
  return {
    async next() {
      if (reader.done) return undefined;
      const start = next;
      let items: unknown[];
      try {
        items = await raceAbort(reader.read(s.batchSize), s.signal);
      } catch (error) {
        s.signal?.throwIfAborted();
        return { start, count: 0, prepare: () => Promise.reject(error) };
      }
      if (items.length === 0) return undefined;
      next += items.length;
      return {
        start,
        count: items.length,
        prepare: () => s.kind.prepareItems(model, items, start),
        describeError: (error) => batchError(start, items.length, error),
      };
    },
    close: () => reader.close(),
  };
}

async function* encodeRows(model: EncodingModel, source: StreamSource, s: Settings): AsyncGenerator<EncodedRows, void, undefined> {
  s.signal?.throwIfAborted();
  const dim = model.outputDim;
  let done = 0;
  let truncated = 0;
  for await (const { job, data, truncated: cut } of encodePipeline(model, streamJobs(model, new SourceReader(source), s), s)) {
    done += job.count;
    truncated += cut;
    s.onProgress?.(s.kind.truncates ? { done, truncated } : { done });
    yield { start: job.start, rows: job.count, dim, data };
  }
}

/**
 * Encodes a stream of items batch by batch, yielding each batch's rows in input order. Items are pulled
 * from `source` only as fast as they are encoded (1 + prefetch batches ahead at most), so memory stays
 * flat however long the stream. Errors name the item (`item 12345: ...`, counted from 0 over the whole
 * stream). Breaking out of the loop closes the source.
 */
export function encodeIterator(model: EncodingModel, source: StreamSource, options: EncodeIteratorOptions = {}): AsyncGenerator<EncodedRows, void, undefined> {
  return encodeRows(model, source, settingsOf(model, source, options));
}

/**
 * Encodes a stream of items into a float32 .npy file written as the batches come (`out`; resolves to
 * { file, rows, dim }), or, without `out`, into memory ({ rows, dim, data }). The file is written under
 * a temporary name and renamed into place at the end: an error or an abort leaves no file behind.
 */
export async function encodeStream(model: EncodingModel, source: StreamSource, options: EncodeStreamOptions & { out: string }): Promise<EncodeStreamResult>;
export async function encodeStream(model: EncodingModel, source: StreamSource, options?: EncodeStreamOptions & { out?: undefined }): Promise<Embeddings>;
export async function encodeStream(model: EncodingModel, source: StreamSource, options?: EncodeStreamOptions): Promise<EncodeStreamResult | Embeddings>;
export async function encodeStream(model: EncodingModel, source: StreamSource, options: EncodeStreamOptions = {}): Promise<EncodeStreamResult | Embeddings> {
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

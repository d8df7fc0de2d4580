// The one encode loop. Every encode (an array of images, an array of texts, a stream of either) is a
// series of batch jobs: each job prepares its batch in JS (sharp decodes, tokenizing: the modality's
// input kind knows how, lib/modalities/) and the batch is encoded natively. Jobs run in order with a
// bounded lookahead, and their rows come out in job order:
//
// Order of work for job k: its preparation starts once job k-1's preparation is done (so sharp never has
// more than one batch of decodes queued on the libuv pool, ahead of the native encode), and its encode
// starts as soon as both its preparation and job k-1's encode are done, without waiting for the consumer
// to take job k-1's rows: the native side is never idle while a prepared batch waits. At most
// 1 + `prefetch` jobs are held at a time, and nothing pulls the job source further than that.

import type { NativeBatch } from './binding.js';
import type { EncodingModel } from './modalities/modality.js';

/** Rows * dim floats of a whole encode, row-major, in input order. */
export interface Embeddings {
  rows: number;
  dim: number;
  /** rows * dim floats, row-major. */
  data: Float32Array;
}

/** A batch JS has prepared for the native encode, and how many of its texts were truncated. */
export interface PreparedBatch {
  batch: NativeBatch;
  truncated: number;
}

export interface EncodeJob {
  /** Inputs in the batch (0 for a job that only carries an error of the source). */
  count: number;
  prepare(): Promise<PreparedBatch>;
  /** How a failure of this job's native encode reads (streams name the items); unchanged by default. */
  describeError?(error: unknown): Error;
}

export interface EncodedJob<J extends EncodeJob> {
  job: J;
  data: Float32Array;
  truncated: number;
}

/** Where jobs come from: the next one, or undefined when there are no more. */
export interface JobSource<J extends EncodeJob> {
  next(): Promise<J | undefined>;
  /** Called once when the pipeline stops, early or not (closes a stream's source). */
  close?(): Promise<void>;
}

export interface PipelineOptions {
  /** Jobs prepared ahead of the one encoding. */
  prefetch: number;
  signal?: AbortSignal;
}

export const noop = (): void => undefined;

/**
 * `promise`, or the signal's reason once it aborts, whichever comes first. The listener is removed when
 * the promise settles: racing against one long-lived "aborted" promise instead would leave a reaction on
 * it per call, growing with the stream.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
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

interface Pending<J extends EncodeJob> {
  job: J;
  result: Promise<{ data: Float32Array; truncated: number }>;
}

/** Runs `source`'s jobs through `model`, yielding each job's rows in job order. */
export async function* encodePipeline<J extends EncodeJob>(
  model: EncodingModel,
  source: JobSource<J>,
  options: PipelineOptions,
): AsyncGenerator<EncodedJob<J>, void, undefined> {
  const { signal } = options;
  signal?.throwIfAborted();
  const dim = model.outputDim;
  const queue: Pending<J>[] = [];
  let stopped = false;
  let exhausted = false;
  let lastPrepared: Promise<unknown> = Promise.resolve();
  let lastEncoded: Promise<unknown> = Promise.resolve();

  const schedule = (job: J): Pending<J> => {
    const prepared = lastPrepared.then(() => {
      if (stopped) throw new Error('stopped');
      return job.prepare();
    });
    lastPrepared = prepared.catch(noop);
    const describe = (error: unknown) => (job.describeError ? job.describeError(error) : error);
    const result = Promise.all([prepared, lastEncoded]).then(async ([{ batch, truncated }]) => {
      if (stopped) throw new Error('stopped');
      let data: Float32Array;
      try {
        data = await model.encodeBatch(batch);
      } catch (error) {
        throw describe(error);
      }
      if (data.length !== job.count * dim) {
        throw describe(new Error(`the model returned ${data.length} values, expected ${job.count} x ${dim}`));
      }
      return { data, truncated };
    });
    lastEncoded = result.catch(noop);
    result.catch(noop); // rejections are reported when the job's turn comes
    return { job, result };
  };

  // Keeps the job encoding plus `prefetch` more scheduled, pulling the source only that far.
  const fill = async (): Promise<void> => {
    while (!exhausted && queue.length < options.prefetch + 1) {
      const job = await raceAbort(source.next(), signal);
      if (job === undefined) {
        exhausted = true;
        break;
      }
      queue.push(schedule(job));
    }
  };

  try {
    await fill();
    while (queue.length > 0) {
      signal?.throwIfAborted();
      const head = queue[0]!;
      const encoded = await raceAbort(head.result, signal);
      queue.shift();
      yield { job: head.job, ...encoded };
      signal?.throwIfAborted();
      await fill();
    }
  } finally {
    stopped = true;
    queue.length = 0;
    await source.close?.();
  }
}

/** A job source over a list of jobs known up front (an array to encode). */
export function jobList<J extends EncodeJob>(jobs: readonly J[]): JobSource<J> {
  let next = 0;
  return { next: async () => jobs[next++] };
}

/** A job of an array encode: its batch holds the inputs at `indices`, whose rows go back there. */
export interface ArrayJob extends EncodeJob {
  indices: readonly number[];
}

/**
 * Encodes an array of `total` inputs cut into `jobs`, into one matrix in input order; `onBatch` is called
 * after each job with the inputs done and the texts truncated so far. One batch is prepared ahead.
 */
export async function encodeArray(
  model: EncodingModel,
  total: number,
  jobs: readonly ArrayJob[],
  onBatch?: (done: number, truncated: number) => void,
): Promise<Embeddings> {
  const dim = model.outputDim;
  const data = new Float32Array(total * dim);
  let done = 0;
  let truncated = 0;
  for await (const { job, data: rows, truncated: cut } of encodePipeline(model, jobList(jobs), { prefetch: 1 })) {
    job.indices.forEach((row, r) => data.set(rows.subarray(r * dim, (r + 1) * dim), row * dim));
    done += job.count;
    truncated += cut;
    onBatch?.(done, truncated);
  }
  return { rows: total, dim, data };
}

/** An error about one item of a stream, counted from 0 over the whole stream. */
export function itemError(index: number, message: string, cause?: unknown): Error {
  return new Error(`item ${index}: ${message}`, cause === undefined ? undefined : { cause });
}

/** An error about a batch of stream items, naming their range. */
export function batchError(start: number, count: number, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  const which = count === 1 ? `item ${start}` : `items ${start}-${start + count - 1}`;
  return new Error(`${which}: ${message}`, { cause: error });
}

/** What a stream item is, in messages. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (Buffer.isBuffer(value)) return 'a Buffer';
  return typeof value;
}

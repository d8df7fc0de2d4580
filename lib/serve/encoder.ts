// What the server needs of an encoder: encode a request's inputs of one kind into rows, say how many
// inputs wait, report each native batch (for /metrics) and drain on close. Two implementations: the
// model's batcher (lib/batcher.ts, coalescing concurrent requests into shared native batches) and
// `unbatchedEncoder`, one native encode per request (what every request got before the batcher; the load
// test's baseline, `batching: false`). Its errors carry the batcher's codes, so lib/serve/errors.ts maps
// both the same way.

import { BatcherClosedError, BatcherInputError, InputTooLongError, QueueFullError } from '../batcherErrors.js';
import type { BatchInfo } from '../batcherLane.js';
import type { Embeddings } from '../encodePipeline.js';
import type { InputKind } from '../modalities/modality.js';
import type { EmbeddingModel } from '../model.js';

export type { InputKind } from '../modalities/modality.js';

export interface EncodeRequestOptions {
  kind: InputKind;
  /** Texts over the model's maximum: cut (true) or refused with an INPUT_TOO_LONG error naming the index. */
  truncate: boolean;
  signal?: AbortSignal;
}

/** One native batch, as the batcher reports it. */
export type BatchReport = BatchInfo;

export interface Encoder {
  encodeMany(inputs: readonly (string | Buffer)[], options: EncodeRequestOptions): Promise<Embeddings>;
  /**
   * Inputs accepted and not yet encoding (all kinds): the batcher's queue, inputs not yet in a native
   * batch. The unbatched encoder has no queue of its own and counts its requests until they finish.
   */
  readonly queued: number;
  onBatch?: (info: BatchReport) => void;
  /** Stops accepting (later calls reject with code BATCHER_CLOSED), finishes what was accepted. */
  close(): Promise<void>;
}

export interface EncoderLimits {
  /** Inputs per native batch (the unbatched encoder cuts a large request into batches of this size). */
  maxBatchSize: number;
  maxBatchTokens: number;
  maxWaitMs: number;
  /** Inputs accepted and not yet encoded, per kind; beyond it a request is refused at once (429). */
  maxQueue: number;
}

/** One native encode per request, in arrival order on the compute thread. */
export function unbatchedEncoder(model: EmbeddingModel, limits: EncoderLimits): Encoder {
  const queued: Record<InputKind, number> = { text: 0, image: 0 };
  const running = new Set<Promise<unknown>>();
  let closed = false;
  const encoder: Encoder = {
    get queued() {
      return queued.text + queued.image;
    },
    async encodeMany(inputs, { kind, truncate, signal }) {
      if (closed) throw new BatcherClosedError();
      signal?.throwIfAborted();
      if (queued[kind] + inputs.length > limits.maxQueue) {
        throw new QueueFullError(`${queued[kind]} ${kind} inputs are queued (maxQueue ${limits.maxQueue})`, 1000);
      }
      if (kind === 'text' && !truncate) checkLengths(model, inputs as readonly string[]);
      queued[kind] += inputs.length;
      const started = performance.now();
      const job = model.encodeInputs(kind, inputs, { batchSize: limits.maxBatchSize });
      running.add(job);
      try {
        const result = await job;
        encoder.onBatch?.({ kind, rows: inputs.length, requests: 1, encodeMs: performance.now() - started, queueMs: 0 });
        return result;
      } catch (error) {
        throw asInputError(error);
      } finally {
        running.delete(job);
        queued[kind] -= inputs.length;
      }
    },
    async close() {
      closed = true;
      await Promise.allSettled([...running]);
    },
  };
  return encoder;
}

/** Refuses the first text longer than the model's maximum, as the batcher does without truncation. */
function checkLengths(model: EmbeddingModel, texts: readonly string[]): void {
  const tokenizer = model.tokenizer;
  const { ids, truncatedMask } = tokenizer.encode(texts, { maxLength: Number.MAX_SAFE_INTEGER });
  for (let i = 0; i < texts.length; i++) {
    if (ids[i]!.length > tokenizer.maxLength || truncatedMask[i]) {
      throw new InputTooLongError(i, ids[i]!.length, tokenizer.maxLength);
    }
  }
}

/** An input-specific failure of the library (names `inputs[i]`) as a BAD_INPUT error naming the index. */
function asInputError(error: unknown): unknown {
  const message = error instanceof Error ? error.message : '';
  const match = /inputs\[(\d+)\]/.exec(message);
  if (!match || /the model produced/.test(message)) return error;
  return new BatcherInputError(Number(match[1]), message.replace(/^.*?inputs\[\d+\]\)?:?\s*/, ''), error);
}

/** The model's batcher (lib/batcher.ts): concurrent requests share native batches. */
export function batchedEncoder(model: EmbeddingModel, limits: EncoderLimits): Encoder {
  return model.batcher(limits);
}

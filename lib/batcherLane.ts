// One queue of the dynamic batcher (lib/batcher.ts) and its dispatch loop: one lane per input kind (a
// CLIP model has a text lane and an image lane). Requests hold queue capacity from the moment they are
// accepted (while their inputs are prepared) until their inputs go into a native batch, so the queue
// never holds more than maxQueue inputs. While a batch runs natively, prepared inputs accumulate; when it
// is done the next batch is formed from what is queued (the input kind's format chooses which inputs go
// together: texts by similar length, images first come first), encoded through model.encodeBatch, and
// its rows are copied into each caller's result at the caller's input positions.

import type { NativeBatch } from './binding.js';
import { QueueFullError } from './batcherErrors.js';
import type { InputKind } from './modalities/modality.js';

/** What a native batch was, for metrics (the batcher's onBatch). */
export interface BatchInfo {
  kind: InputKind;
  /** Inputs in the batch. */
  rows: number;
  /** Requests with inputs in it. */
  requests: number;
  /** Texts: rows x padded length. */
  paddedTokens?: number;
  /** Texts: the tokens of its texts, without padding. */
  tokens?: number;
  /** The native encode's time. */
  encodeMs: number;
  /** How long its oldest input waited in the queue. */
  queueMs: number;
  /** Set when the native encode failed (its requests were rejected). */
  error?: unknown;
}

/** One caller's encodeMany, as the lane sees it. */
export interface LaneRequest {
  /** count x dim floats, filled row by row as batches finish. */
  readonly data: Float32Array;
  /** Rows not yet written. */
  remaining: number;
  /** Inputs still holding queue capacity (being prepared or queued). */
  counted: number;
  settled: boolean;
  finish(): void;
  fail(error: unknown): void;
}

/** An input prepared for its kind's native batch (token ids, or pixels at the model's input size). */
export interface PreparedInput {
  /** Texts: its token count (padding is by the longest of a batch); images: 0. */
  length: number;
}

/** How one input kind is prepared, grouped and put into a native batch; lib/modalities/ provides them. */
export interface BatcherFormat<P extends PreparedInput = PreparedInput> {
  /**
   * The request's inputs, checked and prepared (off the event loop or in short chunks); rejects with a
   * BatcherInputError or InputTooLongError naming the input's index in the request.
   */
  prepare(inputs: readonly unknown[], options: { truncate: boolean }): Promise<P[]>;
  /** The next batch: indices into `queue` (oldest first), which must include 0. */
  select(queue: readonly P[]): number[];
  /** The native batch of `inputs`, in this order. */
  build(inputs: readonly P[]): { batch: NativeBatch; paddedTokens?: number; tokens?: number };
}

export interface LaneLimits {
  maxBatchSize: number;
  maxWaitMs: number;
  maxQueue: number;
}

/** The part of the model a lane needs. */
export interface LaneModel {
  readonly outputDim: number;
  encodeBatch(batch: NativeBatch): Promise<Float32Array>;
}

interface QueuedInput<P> {
  request: LaneRequest;
  /** Its row in the request's result. */
  index: number;
  prepared: P;
  enqueuedAt: number;
}

// Weight of the latest batch in the running mean of batch times (retryAfterMs's estimate).
const BATCH_TIME_WEIGHT = 0.2;

export class BatchLane<P extends PreparedInput = PreparedInput> {
  /** Inputs holding capacity: being prepared or queued. */
  private held = 0;
  private queue: QueuedInput<P>[] = [];
  private running = false;
  private wake?: () => void;
  private flushing = false;
  private meanBatchMs = 0;

  constructor(
    readonly kind: InputKind,
    readonly format: BatcherFormat<P>,
    private readonly model: LaneModel,
    private readonly limits: LaneLimits,
    private readonly onBatch: (info: BatchInfo) => void,
    private readonly onIdle: () => void,
  ) {}

  /** Inputs accepted and not yet in a native batch (being prepared or waiting). */
  get queued(): number {
    return this.held;
  }

  /** Nothing queued, being prepared or encoding. */
  get idle(): boolean {
    return this.held === 0 && !this.running;
  }

  /** Takes capacity for `count` inputs, or throws QueueFullError (nothing taken). */
  reserve(count: number): void {
    if (this.held + count > this.limits.maxQueue) {
      throw new QueueFullError(
        `the ${this.kind} queue is full: ${this.held} of ${this.limits.maxQueue} inputs queued, ${count} more do not fit; retry later`,
        this.retryAfterMs(count),
      );
    }
    this.held += count;
  }

  /** An estimate of the time until `count` more inputs fit: the batches ahead at the recent batch time. */
  retryAfterMs(count: number): number {
    const excess = Math.max(1, this.held + count - this.limits.maxQueue);
    const batches = Math.ceil(excess / this.limits.maxBatchSize);
    return Math.max(1, Math.ceil(batches * (this.meanBatchMs || 10)));
  }

  /** Queues a request's prepared inputs (all of them, in order) and starts the loop if it is idle. */
  enqueue(request: LaneRequest, prepared: readonly P[]): void {
    const now = performance.now();
    prepared.forEach((input, index) => this.queue.push({ request, index, prepared: input, enqueuedAt: now }));
    if (!this.running) {
      this.running = true;
      void this.loop();
    } else if (this.queue.length >= this.limits.maxBatchSize) {
      this.wake?.();
    }
  }

  /** Drops a request's queued inputs and frees the capacity it still holds (abort, failure). */
  cancel(request: LaneRequest): void {
    if (request.counted > 0) this.queue = this.queue.filter((input) => input.request !== request);
    this.release(request, request.counted);
    if (this.idle) this.onIdle();
  }

  /** Stops waiting for company: everything queued is batched at once (close). */
  flush(): void {
    this.flushing = true;
    this.wake?.();
  }

  private release(request: LaneRequest, count: number): void {
    request.counted -= count;
    this.held -= count;
  }

  private async loop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const wait = this.flushing || this.queue.length >= this.limits.maxBatchSize ? 0 : this.queue[0]!.enqueuedAt + this.limits.maxWaitMs - performance.now();
        if (wait > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, wait);
            this.wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.wake = undefined;
          continue;
        }
        await this.runBatch(this.takeBatch());
      }
    } finally {
      this.running = false;
      if (this.idle) this.onIdle();
    }
  }

  /** Removes the next batch's inputs from the queue (they stop holding capacity). */
  private takeBatch(): QueuedInput<P>[] {
    const chosen = this.format.select(this.queue.map((input) => input.prepared));
    const taken = new Set(chosen);
    const batch = chosen.map((i) => this.queue[i]!);
    this.queue = this.queue.filter((_, i) => !taken.has(i));
    for (const input of batch) this.release(input.request, 1);
    return batch;
  }

  private async runBatch(inputs: readonly QueuedInput<P>[]): Promise<void> {
    const started = performance.now();
    const requests = [...new Set(inputs.map((input) => input.request))];
    const info: BatchInfo = {
      kind: this.kind,
      rows: inputs.length,
      requests: requests.length,
      encodeMs: 0,
      queueMs: started - inputs.reduce((oldest, input) => Math.min(oldest, input.enqueuedAt), started),
    };
    try {
      const { batch, paddedTokens, tokens } = this.format.build(inputs.map((input) => input.prepared));
      if (paddedTokens !== undefined) info.paddedTokens = paddedTokens;
      if (tokens !== undefined) info.tokens = tokens;
      const dim = this.model.outputDim;
      const rows = await this.model.encodeBatch(batch);
      if (rows.length !== inputs.length * dim) throw new Error(`the model returned ${rows.length} values, expected ${inputs.length} x ${dim}`);
      inputs.forEach((input, r) => {
        const request = input.request;
        if (request.settled) return; // aborted (or failed) while the batch ran: its rows are dropped
        request.data.set(rows.subarray(r * dim, (r + 1) * dim), input.index * dim);
        if (--request.remaining === 0) request.finish();
      });
    } catch (error) {
      info.error = error;
      // Only this batch's requests fail (with their inputs still queued); the loop goes on.
      for (const request of requests) {
        if (request.settled) continue;
        this.cancel(request);
        const message = error instanceof Error ? error.message : String(error);
        request.fail(new Error(`encoding a batch of ${inputs.length} ${this.kind} inputs failed: ${message}`, { cause: error }));
      }
    }
    info.encodeMs = performance.now() - started;
    this.meanBatchMs = this.meanBatchMs === 0 ? info.encodeMs : (1 - BATCH_TIME_WEIGHT) * this.meanBatchMs + BATCH_TIME_WEIGHT * info.encodeMs;
    try {
      this.onBatch(info);
    } catch {
      // A metrics callback never stops the loop.
    }
  }
}

// Dynamic batching across callers: `model.batcher(options)` returns an EncodeBatcher whose encode /
// encodeMany may be called from many places at once (a server's requests). Requests that arrive while
// the model is busy are coalesced into one native batch (texts of similar length together, so padding
// stays small), and each caller gets its own rows back in its input order. A request is checked and
// prepared when it arrives (tokenized, or decoded by sharp) and holds queue capacity from then until its
// inputs go into a batch: a queue that cannot take a request rejects it at once (QueueFullError), never
// a part of it. One queue and dispatch loop per input kind (lib/batcherLane.ts): a CLIP model's texts and
// images queue separately. The input kinds (lib/modalities/) say how their inputs are prepared and grouped.

import { BatcherClosedError, BatcherInputError } from './batcherErrors.js';
import { BatchLane, type BatchInfo, type LaneRequest } from './batcherLane.js';
import type { ImageInput } from './data/images.js';
import type { Embeddings } from './encodePipeline.js';
import { rethrowWithCallerStack } from './errors.js';
import { modalityNamed, type InputKind } from './modalities/index.js';
import type { EncodingModel } from './modalities/modality.js';
import { numberOr } from './numericOption.js';
import { OPTION_RANGES } from './optionRanges.js';

export { BatcherClosedError, BatcherInputError, InputTooLongError, QueueFullError } from './batcherErrors.js';
export type { BatchInfo } from './batcherLane.js';

export interface BatcherOptions {
  /** Inputs per native batch, at most. Default 32. */
  maxBatchSize?: number;
  /** Texts: rows x padded length of a batch, at most (a single longer text still runs alone). Default 16384. */
  maxBatchTokens?: number;
  /** How long the oldest queued input may wait for company while the model is idle, in ms. Default 2. */
  maxWaitMs?: number;
  /** Inputs being prepared or queued, per input kind, at most; a request that does not fit rejects with QueueFullError. Default 1024. */
  maxQueue?: number;
}

export interface BatcherRequestOptions {
  /** Aborting drops the request's queued inputs and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** CLIP models: which tower. Default: inferred as model.encode does (strings are texts, unless all are image paths). */
  kind?: InputKind;
  /** Texts longer than the model's maximum length: cut (default true) or reject with InputTooLongError. */
  truncate?: boolean;
}

export const BATCHER_DEFAULTS: Required<BatcherOptions> = { maxBatchSize: 32, maxBatchTokens: 16384, maxWaitMs: 2, maxQueue: 1024 };

/** The options checked and completed with the defaults. */
export function batcherOptions(options: BatcherOptions = {}): Required<BatcherOptions> {
  if (typeof options !== 'object' || options === null) throw new TypeError('batcher options must be an object');
  const resolved = { ...BATCHER_DEFAULTS };
  for (const key of Object.keys(BATCHER_DEFAULTS) as (keyof BatcherOptions)[]) {
    resolved[key] = numberOr(options[key], key, OPTION_RANGES[key], BATCHER_DEFAULTS[key]);
  }
  return resolved;
}

/** Coalesces concurrent encode calls on one model into native batches. Create with model.batcher(). */
export class EncodeBatcher {
  /** Called after each native batch (for metrics); an error it throws is ignored. */
  onBatch?: (info: BatchInfo) => void;
  readonly options: Readonly<Required<BatcherOptions>>;
  private readonly lanes = new Map<InputKind, BatchLane>();
  private closed = false;
  private drained?: () => void;

  constructor(
    private readonly model: EncodingModel,
    options: BatcherOptions = {},
  ) {
    this.options = batcherOptions(options);
    const limits = this.options;
    for (const unit of modalityNamed(model.modality).inputs) {
      const lane = new BatchLane(
        unit.kind,
        unit.batcherFormat(model, limits),
        model,
        limits,
        (info) => this.onBatch?.(info),
        () => this.checkDrained(),
      );
      this.lanes.set(unit.kind, lane);
    }
  }

  get outputDim(): number {
    return this.model.outputDim;
  }

  /** Inputs accepted and not yet in a native batch (being prepared or waiting), all kinds together. */
  get queued(): number {
    let total = 0;
    for (const lane of this.lanes.values()) total += lane.queued;
    return total;
  }

  /** Inputs accepted and not yet in a native batch, of one kind (0 for a kind the model does not embed). */
  queuedOf(kind: InputKind): number {
    return this.lanes.get(kind)?.queued ?? 0;
  }

  /** Whether close() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** One input's embedding (outputDim floats). */
  async encode(input: string | ImageInput, options: BatcherRequestOptions = {}): Promise<Float32Array> {
    return (await this.encodeMany([input], options)).data;
  }

  /** Rows of `inputs` in input order; all inputs of one call are of one kind. */
  async encodeMany(inputs: readonly (string | ImageInput)[], options: BatcherRequestOptions = {}): Promise<Embeddings> {
    const caller = new Error();
    try {
      return await this.submit(inputs, options);
    } catch (error) {
      // The abort reason is the caller's own object: handed back untouched.
      if (options.signal?.aborted && error === options.signal.reason) throw error;
      rethrowWithCallerStack(error, caller);
    }
  }

  /**
   * Stops taking requests (new calls reject with BatcherClosedError) and resolves once everything
   * accepted before has been encoded (queued inputs no longer wait for company).
   */
  close(): Promise<void> {
    this.closed = true;
    const done = new Promise<void>((resolve) => {
      const previous = this.drained;
      this.drained = () => {
        previous?.();
        resolve();
      };
    });
    for (const lane of this.lanes.values()) lane.flush();
    this.checkDrained();
    return done;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private checkDrained(): void {
    if (!this.closed || !this.drained) return;
    for (const lane of this.lanes.values()) if (!lane.idle) return;
    const drained = this.drained;
    this.drained = undefined;
    drained();
  }

  /** The lane of `inputs`: the kind asked for, the model's only kind, or CLIP's by the inputs. */
  private laneFor(inputs: readonly unknown[], kind: InputKind | undefined): BatchLane {
    const modality = modalityNamed(this.model.modality);
    if (kind !== undefined) {
      const lane = this.lanes.get(kind);
      if (lane) return lane;
      const kinds = [...this.lanes.keys()].map((k) => `'${k}'`).join(' or ');
      throw new TypeError(`option 'kind' must be ${kinds} for ${this.model.name} (${modality.described} model), got ${JSON.stringify(kind)}`);
    }
    if (modality.inputs.length === 1 || inputs.length === 0) return this.lanes.get(modality.inputs[0]!.kind)!;
    // CLIP: the first input's kind, as encode() infers it; a request of both kinds is refused at the
    // first input of the other kind.
    const kindOf = (input: unknown) => modality.inputKindOf!([input]).kind;
    const first = kindOf(inputs[0]);
    const other = inputs.findIndex((input) => kindOf(input) !== first);
    if (other >= 0) {
      throw new BatcherInputError(other, `${first === 'text' ? 'an image among texts' : 'a text among images'}: a request holds one kind of input (option 'kind' says which)`);
    }
    return this.lanes.get(first)!;
  }

  private async submit(inputs: readonly (string | ImageInput)[], options: BatcherRequestOptions): Promise<Embeddings> {
    if (this.closed) throw new BatcherClosedError();
    if (this.model.disposed) throw new Error(`the model ${this.model.name} has been disposed`);
    if (typeof options !== 'object' || options === null) throw new TypeError('encode options must be an object');
    const { signal } = options;
    const truncate = options.truncate ?? true;
    if (typeof truncate !== 'boolean') throw new TypeError(`option 'truncate' must be true or false, got ${JSON.stringify(truncate)}`);
    if (!Array.isArray(inputs)) throw new TypeError('encodeMany needs an array of inputs (strings, or images for an image or CLIP model)');
    signal?.throwIfAborted();
    const lane = this.laneFor(inputs, options.kind);
    const dim = this.model.outputDim;
    if (inputs.length === 0) return { rows: 0, dim, data: new Float32Array(0) };
    if (inputs.length > this.options.maxQueue) {
      throw new RangeError(`a request of ${inputs.length} inputs can never fit the batcher's queue of ${this.options.maxQueue} (maxQueue): split it`);
    }
    lane.reserve(inputs.length);

    let resolve!: (rows: Embeddings) => void;
    let reject!: (error: unknown) => void;
    const result = new Promise<Embeddings>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // An abort while the inputs are prepared (tokenized in chunks, decoded by sharp) rejects `result`
    // before it is returned and awaited: without a handler now, Node reports an unhandled rejection,
    // which ends a server process (--unhandled-rejections=throw is the default). The caller still gets
    // the rejection through the returned promise.
    result.catch(() => undefined);
    const onAbort = () => {
      if (request.settled) return;
      lane.cancel(request);
      request.fail(signal!.reason);
    };
    const settle = () => {
      request.settled = true;
      signal?.removeEventListener('abort', onAbort);
    };
    const request: LaneRequest = {
      data: new Float32Array(inputs.length * dim),
      remaining: inputs.length,
      counted: inputs.length,
      settled: false,
      finish: () => {
        settle();
        resolve({ rows: inputs.length, dim, data: request.data });
      },
      fail: (error) => {
        settle();
        reject(error);
      },
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    try {
      const prepared = await lane.format.prepare(inputs, { truncate });
      if (!request.settled) lane.enqueue(request, prepared);
    } catch (error) {
      if (!request.settled) {
        lane.cancel(request);
        request.fail(error);
      }
    }
    return result;
  }
}

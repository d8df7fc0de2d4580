// The errors of the dynamic batcher (lib/batcher.ts). Each carries a stable `code` so that a server can
// map it to a status (QUEUE_FULL: 429/503 with Retry-After, INPUT_TOO_LONG: 413, BAD_INPUT: 400,
// BATCHER_CLOSED: 503) without matching messages.

/** The queue of this input kind cannot take the request now; nothing of it was queued. */
export class QueueFullError extends Error {
  readonly code = 'QUEUE_FULL';
  /** An estimate of when the queue will have room, from recent batch times. */
  readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number) {
    super(message);
    this.name = 'QueueFullError';
    this.retryAfterMs = retryAfterMs;
  }
}

/** A text of the request is longer than the model's maximum length and the request asked not to truncate. */
export class InputTooLongError extends Error {
  readonly code = 'INPUT_TOO_LONG';
  /** The text's index in the request. */
  readonly index: number;
  /** Its tokens, special tokens included. */
  readonly tokens: number;
  readonly maxTokens: number;

  constructor(index: number, tokens: number, maxTokens: number) {
    super(`input[${index}]: the text has ${tokens} tokens, more than the model's maximum of ${maxTokens} (truncate: false)`);
    this.name = 'InputTooLongError';
    this.index = index;
    this.tokens = tokens;
    this.maxTokens = maxTokens;
  }
}

/** An item of a request that cannot be encoded (not a string, not an image, an empty text, ...). */
export class BatcherInputError extends Error {
  readonly code = 'BAD_INPUT';
  /** The item's index in the request. */
  readonly index: number;

  constructor(index: number, reason: string, cause?: unknown) {
    super(`input[${index}]: ${reason}`, cause === undefined ? undefined : { cause });
    this.name = 'BatcherInputError';
    this.index = index;
  }
}

/** The batcher was closed: it takes no new requests (those already queued still run). */
export class BatcherClosedError extends Error {
  readonly code = 'BATCHER_CLOSED';

  constructor() {
    super('the batcher is closed: it takes no new requests');
    this.name = 'BatcherClosedError';
  }
}

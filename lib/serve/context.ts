// What every route handler gets: the served models, the search index, the limits, the metrics and the
// request's abort signal (aborted when the client goes away), and what it returns: a status and a JSON
// body (or text for /metrics).

import type { IncomingMessage } from 'node:http';
import type { Embeddings } from '../encodePipeline.js';
import type { InputKind } from './encoder.js';
import { HttpError, toHttpError } from './errors.js';
import { checkInputs, kindOf, listOf } from './inputs.js';
import type { ServerMetrics } from './metrics.js';
import type { ModelSet, ServedModel } from './models.js';

export interface SearchHit {
  id: string;
  score: number;
}

/** The part of an EmbeddingIndex (lib/embeddingIndex.ts) the server uses. */
export interface SearchableIndex {
  readonly dim: number;
  readonly size: number;
  search(queries: Float32Array, options: { k: number }): Promise<SearchHit[][]>;
}

export interface RequestLimits {
  maxBodyBytes: number;
  maxInputs: number;
  /** Inputs the encoder's queue holds per kind: a larger request could never fit (413). */
  maxQueue: number;
  /** Texts over the model's maximum: cut (true) or 413 (false); TEI's `truncate` field overrides it. */
  truncate: boolean;
}

export interface RouteContext {
  models: ModelSet;
  index?: SearchableIndex;
  /** The model whose space the index is in (queries given as text or images are encoded with it). */
  indexModel?: string;
  limits: RequestLimits;
  metrics: ServerMetrics;
  signal: AbortSignal;
}

export interface Reply {
  status?: number;
  /** JSON-serialised unless `contentType` says otherwise (then a string). */
  body: unknown;
  contentType?: string;
}

export type Handler = (request: IncomingMessage, context: RouteContext) => Promise<Reply>;

export interface Encoded {
  served: ServedModel;
  kind: InputKind;
  embeddings: Embeddings;
}

/**
 * Encodes a request's inputs (`value`, the field `field` of the payload) with the model `modelName` names:
 * checks the inputs, queues them on the model's encoder, counts the items, and holds the model until the
 * rows are back (a reload meanwhile lets this request finish on the old model).
 */
export async function encodeRequest(
  context: RouteContext,
  request: {
    model: unknown; modelField?: string; value: unknown; field: string; kind?: unknown; truncate?: boolean;
    /** Checks the request against the model before anything is queued (throws an HttpError). */
    check?: (served: ServedModel) => void;
  },
): Promise<Encoded> {
  const items = listOf(request.value, request.field, context.limits);
  if (items.length > context.limits.maxQueue) {
    throw new HttpError(413, `${request.field} has ${items.length} inputs, more than the queue holds (${context.limits.maxQueue}, --max-queue)`, { param: request.field, code: 'too_many_inputs' });
  }
  const { served, release } = context.models.acquire(request.model, request.modelField);
  try {
    request.check?.(served);
    const kind = kindOf(served, items, request.kind);
    const inputs = await checkInputs(items, kind, request.field);
    let embeddings: Embeddings;
    try {
      embeddings = await served.encoder.encodeMany(inputs, { kind, truncate: request.truncate ?? context.limits.truncate, signal: context.signal });
    } catch (error) {
      throw toHttpError(error, request.field);
    }
    context.metrics.items.inc({ model: served.name, kind }, inputs.length);
    return { served, kind, embeddings };
  } finally {
    release();
  }
}

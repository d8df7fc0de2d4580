// serve()'s options: what they are, their defaults and checks, written once. The numeric limits are
// listed in SERVE_LIMITS with their CLI flag and help text, which `finetuner serve` and its --help read
// (lib/cli/serve.ts); their ranges are in lib/optionRanges.ts (SERVE_RANGES).

import { BATCHER_DEFAULTS } from '../batcher.js';
import type { Device } from '../model.js';
import { checkNumber, type NumberRange } from '../numericOption.js';
import { SERVE_RANGES } from '../optionRanges.js';
import type { Precision } from '../precision.js';
import type { SearchableIndex } from './context.js';

export interface ServeOptions {
  /** A model folder (served under its base name) or name -> folder. Saved models or exported backbones. */
  models: string | Record<string, string>;
  /** Default 8080; 0 picks a free port (see RunningServer.port). */
  port?: number;
  /** Default '127.0.0.1' (this machine only); '0.0.0.0' listens on every interface. */
  host?: string;
  /** An EmbeddingIndex folder (saved with index.save) for POST /search, or an index already loaded. */
  index?: string | SearchableIndex;
  /** The model whose space the index is in (default: the first model). */
  indexModel?: string;
  /** Bearer token every route but /health requires. Default: none (no auth). */
  apiKey?: string;
  /** Coalesce concurrent requests into shared native batches (default true); false: one encode per request. */
  batching?: boolean;
  /** Texts longer than the model's maximum: truncated (default true) or refused with 413. */
  truncate?: boolean;
  maxBodyBytes?: number;
  maxInputs?: number;
  maxBatchSize?: number;
  maxBatchTokens?: number;
  maxWaitMs?: number;
  maxQueue?: number;
  device?: Device;
  precision?: Precision;
  /** Where the server writes its log lines (start, reload, errors). Default: stderr. */
  log?: (line: string) => void;
}

export type ServeLimit = keyof typeof SERVE_RANGES & keyof ServeOptions;

/** The numeric limits: default, CLI flag and help, in the order --help lists them. */
export const SERVE_LIMITS: Record<Exclude<ServeLimit, 'port'>, { flag: string; default: number; description: string }> = {
  maxBodyBytes: { flag: 'max-body-bytes', default: 16 * 1024 * 1024, description: 'request bodies larger than this are refused with 413' },
  maxInputs: { flag: 'max-inputs', default: 256, description: 'inputs (texts, images, query vectors) per request; more is a 413' },
  // The batcher's options (lib/batcher.ts), with its defaults.
  maxBatchSize: { flag: 'max-batch-size', default: BATCHER_DEFAULTS.maxBatchSize, description: 'inputs per native batch' },
  maxBatchTokens: { flag: 'max-batch-tokens', default: BATCHER_DEFAULTS.maxBatchTokens, description: 'texts: rows x padded length per native batch' },
  maxWaitMs: { flag: 'max-wait-ms', default: BATCHER_DEFAULTS.maxWaitMs, description: 'how long a request waits for others to share its batch while the model is idle' },
  maxQueue: { flag: 'max-queue', default: BATCHER_DEFAULTS.maxQueue, description: 'inputs queued per model and kind; a request beyond it gets 429 with Retry-After' },
};

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
export const API_KEY_ENV = 'FINETUNER_API_KEY';

export type ResolvedServeOptions = Required<Pick<ServeOptions, ServeLimit | 'host' | 'batching' | 'truncate'>> & ServeOptions;

export function resolveServeOptions(options: ServeOptions): ResolvedServeOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('serve needs an options object with `models`');
  const number = (name: ServeLimit, fallback: number) =>
    options[name] === undefined ? fallback : checkNumber(options[name], name, SERVE_RANGES[name] as NumberRange);
  const limits = Object.fromEntries(Object.entries(SERVE_LIMITS).map(([name, spec]) => [name, number(name as ServeLimit, spec.default)]));
  for (const key of ['batching', 'truncate'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') throw new TypeError(`option '${key}' must be true or false`);
  }
  if (options.apiKey !== undefined && (typeof options.apiKey !== 'string' || options.apiKey === '')) throw new TypeError("option 'apiKey' must be a non-empty string");
  if (options.host !== undefined && (typeof options.host !== 'string' || options.host === '')) throw new TypeError("option 'host' must be a non-empty string");
  return {
    ...options,
    ...limits,
    port: number('port', DEFAULT_PORT),
    host: options.host ?? DEFAULT_HOST,
    batching: options.batching ?? true,
    truncate: options.truncate ?? true,
  } as ResolvedServeOptions;
}

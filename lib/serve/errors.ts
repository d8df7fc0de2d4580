// Errors as the server answers them: an HttpError carries the status, the message, the field it is about
// (a JSON path such as `input[2]`) and extra headers (Retry-After, WWW-Authenticate, Allow). Everything a
// handler throws goes through `toHttpError`, so a library error (a full queue, a text too long, a bad
// image) becomes the right 4xx and anything unforeseen a 500 whose message hides internals.

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly options: { param?: string; type?: string; code?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The JSON body of an error, in OpenAI's shape (its clients parse it): { error: { message, type, param, code } }. */
export function errorBody(error: HttpError): { error: { message: string; type: string; param: string | null; code: string | null } } {
  return {
    error: {
      message: error.message,
      type: error.options.type ?? (error.status >= 500 ? 'server_error' : 'invalid_request_error'),
      param: error.options.param ?? null,
      code: error.options.code ?? null,
    },
  };
}

export const badRequest = (message: string, param?: string): HttpError => new HttpError(400, message, { param, code: 'bad_request' });

/**
 * The error codes of the encoders (lib/batcher.ts's errors and the unbatched encoder's, which use the
 * same codes): matched by `code`, so the server does not depend on the classes.
 */
interface CodedError extends Error {
  code?: unknown;
  index?: unknown;
  retryAfterMs?: unknown;
  tokens?: unknown;
  maxTokens?: unknown;
}

/**
 * `error` as an HttpError. `field` names the request's array of inputs (`input`, `inputs`, `query`), so
 * an error about input i names `field[i]`.
 */
export function toHttpError(error: unknown, field = 'input'): HttpError {
  if (error instanceof HttpError) return error;
  const coded = (error ?? {}) as CodedError;
  // The batcher's messages start with `input[i]: `; the answer names the request's own field instead.
  const message = (error instanceof Error ? error.message : String(error)).replace(/^input\[\d+\]: /, '');
  const at = typeof coded.index === 'number' ? `${field}[${coded.index}]` : field;
  switch (coded.code) {
    case 'QUEUE_FULL': {
      const seconds = Math.max(1, Math.ceil((typeof coded.retryAfterMs === 'number' ? coded.retryAfterMs : 1000) / 1000));
      return new HttpError(429, `the server is busy (${message}); retry after ${seconds} s`, { code: 'queue_full', type: 'rate_limit_error', headers: { 'Retry-After': String(seconds) } });
    }
    case 'INPUT_TOO_LONG':
      return new HttpError(413, `${at}: ${message}`, { param: at, code: 'input_too_long' });
    case 'BAD_INPUT':
      return new HttpError(400, `${at}: ${message}`, { param: at, code: 'bad_input' });
    case 'BATCHER_CLOSED':
      return new HttpError(503, 'the server is shutting down', { code: 'shutting_down', headers: { 'Retry-After': '1' } });
    case 'ABORT_ERR':
      return new HttpError(499, 'the client closed the request', { code: 'client_closed' });
    default:
      if (error instanceof Error && error.name === 'AbortError') return new HttpError(499, 'the client closed the request', { code: 'client_closed' });
      return new HttpError(500, 'internal error while encoding; see the server log', { code: 'internal_error' });
  }
}

// Optional bearer-token auth. The token is compared in constant time: both sides are hashed (SHA-256) to
// equal-length digests and compared with crypto.timingSafeEqual, so neither the time nor a length check
// says how much of a guess was right.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.js';

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** A check that throws 401 unless the request carries `Authorization: Bearer <apiKey>`. */
export function bearerAuth(apiKey: string): (request: IncomingMessage) => void {
  const expected = digest(apiKey);
  return (request) => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const ok = match !== null && timingSafeEqual(digest(match[1]!.trim()), expected);
    if (!ok) {
      throw new HttpError(401, header === '' ? 'missing API key: send the header Authorization: Bearer <key>' : 'invalid API key', {
        type: 'authentication_error', code: 'invalid_api_key',
        headers: { 'WWW-Authenticate': `Bearer realm="finetuner"${header === '' ? '' : ', error="invalid_token"'}` },
      });
    }
  };
}

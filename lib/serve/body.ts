// Reading a request body: at most `maxBytes` (413 as soon as Content-Length or the bytes read pass it,
// before anything is parsed), then JSON (400 naming the position of a syntax error) or multipart/form-data
// (parsed by the Fetch API's Request.formData() built into Node: files become Buffers, other parts
// strings; repeated names become arrays).

import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.js';

/** A request's payload as handlers see it: the parsed JSON object, or the form's fields. */
export type Payload = Record<string, unknown>;

export async function readBytes(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length']);
  const tooLarge = () => new HttpError(413, `the request body is larger than the limit of ${maxBytes} bytes (--max-body-bytes)`, { code: 'body_too_large' });
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

export async function readPayload(request: IncomingMessage, maxBytes: number): Promise<Payload> {
  const type = request.headers['content-type'] ?? '';
  const bytes = await readBytes(request, maxBytes);
  if (/^multipart\/form-data/i.test(type)) return parseForm(bytes, type);
  // Any other type is read as JSON: curl's -d sends application/x-www-form-urlencoded by default.
  if (bytes.length === 0) throw new HttpError(400, 'the request body is empty; send a JSON object', { code: 'empty_body' });
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new HttpError(400, `the request body is not valid JSON: ${(error as Error).message}`, { code: 'invalid_json' });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError(400, `the request body must be a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`, { code: 'invalid_json' });
  }
  return value as Payload;
}

async function parseForm(bytes: Buffer, type: string): Promise<Payload> {
  let form: FormData;
  try {
    form = await new Request('http://localhost/', { method: 'POST', headers: { 'content-type': type }, body: new Blob([new Uint8Array(bytes)]) }).formData();
  } catch (error) {
    throw new HttpError(400, `the multipart/form-data body cannot be parsed: ${(error as Error).message}`, { code: 'invalid_form' });
  }
  const payload: Record<string, unknown[]> = {};
  for (const [name, value] of form) {
    const item = typeof value === 'string' ? value : Buffer.from(await value.arrayBuffer());
    (payload[name] ??= []).push(item);
  }
  // A field sent once is a value; `inputs` is always a list (a form cannot say "one" or "many" otherwise).
  return Object.fromEntries(Object.entries(payload).map(([name, values]) => [name, name === 'inputs' || values.length > 1 ? values : values[0]]));
}

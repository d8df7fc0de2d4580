// The inputs of a request, checked and named: texts (a string or an array of strings) and images (base64
// strings, `data:image/...;base64,` URLs, or multipart file parts). Every problem is a 4xx naming the
// field path (`input[2]`); images are checked to be images (sharp reads their header) before they queue,
// so one bad image never fails a batch shared with other requests.

import sharp from 'sharp';
import { badRequest, HttpError } from './errors.js';
import type { InputKind } from './encoder.js';
import type { ServedModel } from './models.js';

export interface InputLimits {
  /** Inputs per request; more is a 413. */
  maxInputs: number;
}

const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+)?(;[\w-]+=[^;,]*)*;base64,/i;
const BASE64 = /^[A-Za-z0-9+/\r\n]*={0,2}\s*$/;

/** `value` as a list of items: one item, or an array of 1..maxInputs items. */
export function listOf(value: unknown, field: string, limits: InputLimits): unknown[] {
  if (value === undefined || value === null) throw badRequest(`${field} is required`, field);
  const items = Array.isArray(value) ? value : [value];
  if (items.length === 0) throw badRequest(`${field} is an empty array; send at least one input`, field);
  if (items.length > limits.maxInputs) {
    throw new HttpError(413, `${field} has ${items.length} inputs, more than the limit of ${limits.maxInputs} per request (--max-inputs)`, { param: field, code: 'too_many_inputs' });
  }
  return items;
}

/** Non-empty strings, each checked; token-id arrays (OpenAI's other input form) are refused by name. */
export function checkTexts(items: readonly unknown[], field: string): string[] {
  if (items.every((item) => typeof item === 'number')) {
    throw badRequest(`${field}: got ${items.length === 1 ? 'a number' : 'numbers'}, not text (token-id arrays are not supported); send the text as a string`, field);
  }
  return items.map((item, i) => {
    const at = `${field}[${i}]`;
    if (Array.isArray(item) && item.length > 0 && item.every((x) => typeof x === 'number')) {
      throw badRequest(`${at}: token-id arrays are not supported; send the text as a string`, at);
    }
    if (typeof item !== 'string') throw badRequest(`${at} must be a string, got ${describe(item)}`, at);
    if (item.trim() === '') throw badRequest(`${at} is ${item === '' ? 'an empty string' : 'only whitespace'}; every text needs something to embed`, at);
    return item;
  });
}

/** Buffers of encoded images: base64 strings, data: URLs or multipart file parts; each checked by sharp. */
export async function checkImages(items: readonly unknown[], field: string): Promise<Buffer[]> {
  const buffers = items.map((item, i) => {
    const at = `${field}[${i}]`;
    if (Buffer.isBuffer(item)) return item;
    if (typeof item !== 'string') throw badRequest(`${at} must be a base64-encoded image or a data: URL, got ${describe(item)}`, at);
    const url = DATA_URL.exec(item);
    const text = url ? item.slice(url[0].length) : item;
    if (!BASE64.test(text)) throw badRequest(`${at} is not base64 (nor a data:...;base64, URL)`, at);
    return Buffer.from(text, 'base64');
  });
  await Promise.all(buffers.map(async (buffer, i) => {
    const at = `${field}[${i}]`;
    if (buffer.length === 0) throw badRequest(`${at} is empty; send an encoded image`, at);
    let meta: sharp.Metadata;
    try {
      meta = await sharp(buffer).metadata();
    } catch {
      throw new HttpError(422, `${at} is not an image (${buffer.length} bytes that sharp cannot read; send JPEG, PNG, WebP, GIF, TIFF or AVIF)`, { param: at, code: 'invalid_image' });
    }
    if (!meta.width || !meta.height) throw new HttpError(422, `${at} is an image without a size`, { param: at, code: 'invalid_image' });
  }));
  return buffers;
}

/**
 * Which kind of input a request sends: `kind` when given (it must be one the model embeds); else the
 * model's only kind; for CLIP, images when every item is a data: URL or a file part, texts otherwise.
 */
export function kindOf(served: ServedModel, items: readonly unknown[], kind: unknown, kindField = 'kind'): InputKind {
  if (kind !== undefined && kind !== null) {
    if (kind !== 'text' && kind !== 'image') throw badRequest(`${kindField} must be "text" or "image", got ${describe(kind)}`, kindField);
    if (!served.kinds.includes(kind)) throw badRequest(`${kindField}: the model ${served.name} embeds ${served.kinds.map((k) => `${k}s`).join(' and ')}, not ${kind}s`, kindField);
    return kind;
  }
  if (served.kinds.length === 1) return served.kinds[0]!;
  const isImage = (item: unknown) => Buffer.isBuffer(item) || (typeof item === 'string' && DATA_URL.test(item));
  return items.every(isImage) ? 'image' : 'text';
}

/** The request's inputs of `kind`, checked. */
export async function checkInputs(items: readonly unknown[], kind: InputKind, field: string): Promise<(string | Buffer)[]> {
  return kind === 'text' ? checkTexts(items, field) : checkImages(items, field);
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (Buffer.isBuffer(value)) return 'a file';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
}

/** An optional boolean field. */
export function booleanField(payload: Record<string, unknown>, field: string, fallback: boolean): boolean {
  const value = payload[field];
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true'; // multipart fields are strings
  throw badRequest(`${field} must be true or false, got ${describe(value)}`, field);
}

/** An optional integer field in [min, max]. */
export function integerField(payload: Record<string, unknown>, field: string, min: number, max: number): number | undefined {
  const raw = payload[field];
  if (raw === undefined || raw === null) return undefined;
  const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw badRequest(`${field} must be an integer in [${min}, ${max}], got ${describe(raw)}`, field);
  }
  return value;
}

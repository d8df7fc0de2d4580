// Rows of an encode as responses carry them: cut to the first `dims` values and re-normalised
// (Matryoshka), L2-normalised on request, and written as JSON numbers or as base64 of little-endian
// float32 (OpenAI's `encoding_format: "base64"`).

import { endianness } from 'node:os';
import type { Embeddings } from '../encodePipeline.js';

/** Row i of `embeddings`, its first `dims` values, L2-normalised when `normalize` (a copy). */
export function rowOf(embeddings: Embeddings, i: number, dims: number, normalize: boolean): Float32Array {
  const row = embeddings.data.slice(i * embeddings.dim, i * embeddings.dim + dims);
  if (normalize) {
    let sum = 0;
    for (const v of row) sum += v * v;
    const norm = Math.sqrt(sum);
    if (norm > 0) for (let j = 0; j < row.length; j++) row[j]! /= norm;
  }
  return row;
}

const LITTLE_ENDIAN = endianness() === 'LE';

/** Base64 of the row's float32 values, little-endian. */
export function base64Of(row: Float32Array): string {
  const bytes = Buffer.from(row.buffer, row.byteOffset, row.byteLength);
  return (LITTLE_ENDIAN ? bytes : Buffer.from(bytes).swap32()).toString('base64');
}

export function numbersOf(row: Float32Array): number[] {
  return Array.from(row);
}

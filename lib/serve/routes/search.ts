// POST /search against the EmbeddingIndex loaded at start (--index DIR): { query: string | string[] (texts
// or, for image and CLIP models, base64 images / data: URLs; multipart file parts named `query`), or
// vector: number[] | number[][] (already embedded, the index's width), k? (default 10), kind? } ->
// { results: [[{ id, score }, ...], ...] }, one list per query, best first (cosine similarity).

import { readPayload } from '../body.js';
import { encodeRequest, type Handler } from '../context.js';
import { badRequest, HttpError } from '../errors.js';
import { describe, integerField, listOf } from '../inputs.js';
import { rowOf } from '../vectors.js';

const DEFAULT_K = 10;
const MAX_K = 1000;

export const search: Handler = async (request, context) => {
  const index = context.index;
  if (!index) throw new HttpError(404, 'this server has no search index; start it with --index DIR', { code: 'no_index' });
  const payload = await readPayload(request, context.limits.maxBodyBytes);
  const k = Math.min(integerField(payload, 'k', 1, MAX_K) ?? DEFAULT_K, index.size);
  if ((payload.query === undefined) === (payload.vector === undefined)) throw badRequest('send either query (texts or images) or vector (embeddings)', payload.query === undefined ? 'query' : 'vector');
  let queries: Float32Array;
  if (payload.vector !== undefined) {
    queries = vectorsOf(payload.vector, index.dim, context.limits.maxInputs);
  } else {
    const { embeddings } = await encodeRequest(context, { model: payload.model ?? context.indexModel, value: payload.query, field: 'query', kind: payload.kind });
    if (embeddings.dim !== index.dim) throw badRequest(`the model's embeddings have ${embeddings.dim} dims, the index ${index.dim}`, 'model');
    queries = new Float32Array(embeddings.rows * embeddings.dim);
    for (let i = 0; i < embeddings.rows; i++) queries.set(rowOf(embeddings, i, embeddings.dim, false), i * embeddings.dim);
  }
  if (k === 0) return { body: { results: Array.from({ length: queries.length / index.dim }, () => []) } };
  return { body: { results: await index.search(queries, { k }) } };
};

/** One vector or a list of them, each `dim` finite numbers, as one row-major Float32Array. */
function vectorsOf(value: unknown, dim: number, maxInputs: number): Float32Array {
  const rows = Array.isArray(value) && value.length > 0 && Array.isArray(value[0]) ? listOf(value, 'vector', { maxInputs }) : [value];
  const out = new Float32Array(rows.length * dim);
  rows.forEach((row, i) => {
    const at = rows.length === 1 && !Array.isArray((value as unknown[])[0]) ? 'vector' : `vector[${i}]`;
    if (!Array.isArray(row)) throw badRequest(`${at} must be an array of ${dim} numbers, got ${describe(row)}`, at);
    if (row.length !== dim) throw badRequest(`${at} has ${row.length} numbers; the index has ${dim} dims`, at);
    row.forEach((x, j) => {
      if (typeof x !== 'number' || !Number.isFinite(x)) throw badRequest(`${at}[${j}] must be a finite number, got ${describe(x)}`, `${at}[${j}]`);
      out[i * dim + j] = x;
    });
  });
  return out;
}

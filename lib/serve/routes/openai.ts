// POST /v1/embeddings, as OpenAI's embeddings API: { input: string | string[], model, encoding_format?:
// 'float' | 'base64', dimensions?, user? } -> { object: 'list', data: [{ object: 'embedding', index,
// embedding }], model, usage: { prompt_tokens, total_tokens } }. Existing OpenAI clients work with their
// baseURL pointed here. `dimensions` cuts and re-normalises the rows, for models trained with
// MatryoshkaLoss only (any width up to the model's; its own width is accepted for every model). Image
// models take base64 images (or data: URLs) as `input`.

import { badRequest } from '../errors.js';
import { readPayload } from '../body.js';
import { encodeRequest, type Handler } from '../context.js';
import type { ServedModel } from '../models.js';
import { describe, integerField } from '../inputs.js';
import { base64Of, numbersOf, rowOf } from '../vectors.js';

export const openaiEmbeddings: Handler = async (request, context) => {
  const payload = await readPayload(request, context.limits.maxBodyBytes);
  const format = payload.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') throw badRequest(`encoding_format must be "float" or "base64", got ${describe(format)}`, 'encoding_format');
  const dimensions = integerField(payload, 'dimensions', 1, Number.MAX_SAFE_INTEGER);
  if (payload.user !== undefined && typeof payload.user !== 'string') throw badRequest(`user must be a string, got ${describe(payload.user)}`, 'user');
  const checkDimensions = (served: ServedModel) => {
    const width = served.model.outputDim;
    if (dimensions === undefined || dimensions === width) return;
    if (served.matryoshkaDims.length === 0) {
      throw badRequest(
        `dimensions: the model ${served.name} was not trained with MatryoshkaLoss, so its embeddings cannot be shortened; leave dimensions out (or send ${width})`,
        'dimensions',
      );
    }
    if (dimensions > width) {
      throw badRequest(`dimensions must be at most ${width} for the model ${served.name} (trained with MatryoshkaLoss at ${served.matryoshkaDims.join(', ')})`, 'dimensions');
    }
  };
  const { served, kind, embeddings } = await encodeRequest(context, { model: payload.model, value: payload.input, field: 'input', kind: payload.kind, check: checkDimensions });
  const dims = dimensions ?? embeddings.dim;
  const cut = dims !== embeddings.dim;
  const data = Array.from({ length: embeddings.rows }, (_, index) => {
    const row = rowOf(embeddings, index, dims, cut);
    return { object: 'embedding', index, embedding: format === 'base64' ? base64Of(row) : numbersOf(row) };
  });
  const tokens = kind === 'text' ? countTokens(served.model, payload.input) : 0;
  return { body: { object: 'list', data, model: served.name, usage: { prompt_tokens: tokens, total_tokens: tokens } } };
};

/** Tokens of the texts as the model counts them (special tokens included, after truncation). */
function countTokens(model: { tokenizer: { encode(texts: readonly string[]): { ids: Int32Array[] } } }, input: unknown): number {
  const texts = (Array.isArray(input) ? input : [input]) as string[];
  return model.tokenizer.encode(texts).ids.reduce((sum, ids) => sum + ids.length, 0);
}

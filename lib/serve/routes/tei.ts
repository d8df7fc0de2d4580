// POST /embed, in text-embeddings-inference's request shape: { inputs: string | string[], normalize?:
// boolean (default true), truncate?: boolean (default: the server's --truncate setting), model?, kind? }
// -> [[...], ...], one row per input. Image and CLIP models take images as base64 strings or data: URLs
// in `inputs`, or as multipart/form-data file parts named `inputs`; `kind` ('text' | 'image') says which
// tower of a CLIP model (default: images when every input is a data: URL or a file, else texts).

import { readPayload } from '../body.js';
import { encodeRequest, type Handler } from '../context.js';
import { booleanField } from '../inputs.js';
import { numbersOf, rowOf } from '../vectors.js';

export const teiEmbed: Handler = async (request, context) => {
  const payload = await readPayload(request, context.limits.maxBodyBytes);
  const normalize = booleanField(payload, 'normalize', true);
  const truncate = booleanField(payload, 'truncate', context.limits.truncate);
  const { embeddings } = await encodeRequest(context, { model: payload.model, value: payload.inputs, field: 'inputs', kind: payload.kind, truncate });
  // The models' rows are already unit length when they normalise (the default); `normalize: false` then
  // returns them as they are.
  return { body: Array.from({ length: embeddings.rows }, (_, i) => numbersOf(rowOf(embeddings, i, embeddings.dim, normalize))) };
};

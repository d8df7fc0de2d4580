// GET /health (no auth: for load balancers and orchestrators), GET /v1/models (OpenAI's list shape, with
// each model's modality, width and Matryoshka widths) and GET /metrics (Prometheus text format).

import type { Handler } from '../context.js';

export const health: Handler = async (_request, context) => ({
  body: { status: 'ok', models: context.models.names(), ...(context.index ? { index: { size: context.index.size, dim: context.index.dim } } : {}) },
});

export const listModels: Handler = async (_request, context) => ({
  body: {
    object: 'list',
    data: context.models.list().map((served) => ({
      id: served.name,
      object: 'model',
      created: served.created,
      owned_by: 'finetuner',
      modality: served.model.modality,
      dimensions: served.model.outputDim,
      ...(served.matryoshkaDims.length > 0 ? { matryoshka_dimensions: served.matryoshkaDims } : {}),
      ...(served.kinds.includes('text') ? { max_tokens: served.model.tokenizer.maxLength } : {}),
    })),
  },
});

export const metrics: Handler = async (_request, context) => ({
  body: await context.metrics.registry.metrics(),
  contentType: context.metrics.registry.contentType,
});

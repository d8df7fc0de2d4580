import type { LossDescriptor } from './descriptor.js';

export const cachedMultipleNegativesRankingLoss = {
  name: 'CachedMultipleNegativesRankingLoss',
  data: 'pairs',
  inputs: 'queries, documents[, negatives]',
  targets: 'group ids',
  summary:
    'MultipleNegativesRankingLoss over batches larger than memory holds (GradCache: embedded miniBatchSize rows at a time, twice), slower per pair',
  options: [
    { name: 'scale', kind: 'number', default: 20, min: 0, minExclusive: true, description: 'scale of the cosine similarities' },
    { name: 'miniBatchSize', kind: 'number', default: 32, min: 1, integer: true, description: 'rows embedded at a time (memory grows with it, not the batch)' },
  ],
} as const satisfies LossDescriptor;

import type { LossDescriptor } from './descriptor.js';

export const multipleNegativesRankingLoss = {
  name: 'MultipleNegativesRankingLoss',
  data: 'pairs',
  inputs: 'queries, documents[, negatives]',
  targets: 'group ids',
  summary: "cross-entropy of each query over the batch's documents (in-batch negatives; a group's rows are not negatives of each other)",
  options: [
    { name: 'scale', kind: 'number', default: 20, min: 0, minExclusive: true, description: 'scale of the cosine similarities' },
  ],
} as const satisfies LossDescriptor;

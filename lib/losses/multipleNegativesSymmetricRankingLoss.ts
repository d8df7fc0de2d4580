import type { LossDescriptor } from './descriptor.js';

export const multipleNegativesSymmetricRankingLoss = {
  name: 'MultipleNegativesSymmetricRankingLoss',
  data: 'pairs',
  inputs: 'queries, documents[, negatives]',
  targets: 'group ids',
  summary: "mean of MultipleNegativesRankingLoss and its reverse (each document over the batch's queries): for symmetric tasks",
  options: [
    { name: 'scale', kind: 'number', default: 20, min: 0, minExclusive: true, description: 'scale of the cosine similarities' },
  ],
} as const satisfies LossDescriptor;

import type { LossDescriptor } from './descriptor.js';

export const cosineSimilarityLoss = {
  name: 'CosineSimilarityLoss',
  data: 'scored',
  inputs: 'first texts, second texts',
  targets: 'scores',
  summary: 'mean squared error between the cosine of the two texts and their score in [0, 1]',
  options: [],
} as const satisfies LossDescriptor;

import type { LossDescriptor } from './descriptor.js';

export const marginMSELoss = {
  name: 'MarginMSELoss',
  data: 'margins',
  inputs: 'queries, positives, negatives',
  targets: 'margins',
  summary: "distillation: mean squared error between the dot-product margin dot(q, pos) - dot(q, neg) and the teacher's margin",
  options: [],
} as const satisfies LossDescriptor;

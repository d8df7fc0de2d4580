import type { LossDescriptor } from './descriptor.js';

export const coSENTLoss = {
  name: 'CoSENTLoss',
  data: 'scored',
  inputs: 'first texts, second texts',
  targets: 'scores',
  summary: "ranks the batch's pairs by cosine in the order of their scores (CoSENT): learns the order, not the values",
  options: [
    { name: 'scale', kind: 'number', default: 20, min: 0, minExclusive: true, description: 'scale of the similarity differences' },
  ],
} as const satisfies LossDescriptor;

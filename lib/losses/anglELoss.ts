import type { LossDescriptor } from './descriptor.js';

export const anglELoss = {
  name: 'AnglELoss',
  data: 'scored',
  inputs: 'first texts, second texts',
  targets: 'scores',
  summary: "CoSENT's ranking on the pairs' angle difference in complex space (AnglE; even embedding width), whose gradient does not vanish near cos = 1",
  options: [
    { name: 'scale', kind: 'number', default: 20, min: 0, minExclusive: true, description: 'scale of the similarity differences' },
  ],
} as const satisfies LossDescriptor;

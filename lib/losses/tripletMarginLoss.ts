import type { LossDescriptor } from './descriptor.js';
import { MINER_NAMES } from './miners.js';

export const tripletMarginLoss = {
  name: 'TripletMarginLoss',
  data: 'labelled',
  inputs: 'items',
  targets: 'labels',
  summary: 'mean hinge of the triplets mined in each class-sampled batch, on L2 distances',
  options: [
    { name: 'margin', kind: 'number', default: 0.2, min: 0, minExclusive: true, description: 'triplet margin, on L2 distances' },
    { name: 'miner', kind: 'choice', default: 'batch-hard', choices: MINER_NAMES, description: `triplet mining in a batch: ${MINER_NAMES.join(', ')}` },
  ],
} as const satisfies LossDescriptor;

import type { LossDescriptor } from './descriptor.js';
import { distanceOption, MINER_OPTIONS, minerOption } from './metricOptions.js';

export const liftedStructureLoss = {
  name: 'LiftedStructureLoss',
  data: 'labelled',
  inputs: 'items',
  targets: 'labels',
  summary: "pytorch-metric-learning's LiftedStructureLoss: each positive pair against a soft maximum over the negatives of its two rows",
  options: [
    { name: 'posMargin', kind: 'number', default: 0, description: 'positive pairs pay beyond it (l2; below it for cosine)' },
    { name: 'negMargin', kind: 'number', default: 1, description: 'negative pairs pay within it (l2; above it for cosine)' },
    minerOption('none'),
    distanceOption('l2'),
    ...MINER_OPTIONS,
  ],
} as const satisfies LossDescriptor;

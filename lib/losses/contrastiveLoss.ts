import type { LossDescriptor } from './descriptor.js';
import { distanceOption, MINER_OPTIONS, minerOption } from './metricOptions.js';

export const contrastiveLoss = {
  name: 'ContrastiveLoss',
  data: 'labelled',
  inputs: 'items',
  targets: 'labels',
  summary: "pytorch-metric-learning's ContrastiveLoss: positive pairs pay past posMargin, negative pairs within negMargin, each averaged over its non-zero pairs",
  options: [
    { name: 'posMargin', kind: 'number', default: 0, description: 'positive pairs pay beyond it (l2; below it for cosine)' },
    { name: 'negMargin', kind: 'number', default: 1, description: 'negative pairs pay within it (l2; above it for cosine)' },
    minerOption('none'),
    distanceOption('l2'),
    ...MINER_OPTIONS,
  ],
} as const satisfies LossDescriptor;

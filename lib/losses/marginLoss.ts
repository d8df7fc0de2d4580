import type { LossDescriptor } from './descriptor.js';
import { distanceOption, MINER_OPTIONS, minerOption } from './metricOptions.js';

export const marginLoss = {
  name: 'MarginLoss',
  data: 'labelled',
  inputs: 'items',
  targets: 'labels',
  summary: "pytorch-metric-learning's MarginLoss: positives inside and negatives outside a boundary beta, by margin",
  options: [
    { name: 'margin', kind: 'number', default: 0.2, min: 0, minExclusive: true, description: "triplet margin (PML's default is 0.05)" },
    { name: 'beta', kind: 'number', default: 1.2, description: 'MultiSimilarityLoss: weight of the negative pairs (50); MarginLoss: the boundary (1.2)' },
    minerOption('none'),
    distanceOption('l2'),
    ...MINER_OPTIONS,
  ],
} as const satisfies LossDescriptor;

import type { LossDescriptor } from './descriptor.js';
import { distanceOption, MINER_OPTIONS, minerOption } from './metricOptions.js';

export const multiSimilarityLoss = {
  name: 'MultiSimilarityLoss',
  data: 'labelled',
  inputs: 'items',
  targets: 'labels',
  summary: "pytorch-metric-learning's MultiSimilarityLoss: soft weighting of every positive and negative pair around base",
  options: [
    { name: 'alpha', kind: 'number', default: 2, min: 0, minExclusive: true, description: 'MultiSimilarityLoss: weight of the positive pairs (2); ProxyAnchorLoss: scale (32)' },
    { name: 'beta', kind: 'number', default: 50, min: 0, minExclusive: true, description: 'MultiSimilarityLoss: weight of the negative pairs (50); MarginLoss: the boundary (1.2)' },
    { name: 'base', kind: 'number', default: 0.5, description: 'similarity the pairs are weighted around' },
    minerOption('none'),
    distanceOption('cosine'),
    ...MINER_OPTIONS,
  ],
} as const satisfies LossDescriptor;

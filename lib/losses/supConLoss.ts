import type { LossDescriptor } from './descriptor.js';
import { distanceOption, MINER_OPTIONS, minerOption } from './metricOptions.js';

export const supConLoss = {
  name: 'SupConLoss',
  data: 'labelled',
  inputs: 'items',
  targets: 'labels',
  summary: "pytorch-metric-learning's SupConLoss (supervised contrastive): per anchor, the mean log-probability of its positives",
  options: [
    { name: 'temperature', kind: 'number', default: 0.1, min: 0, minExclusive: true, description: 'softmax temperature (NTXentLoss 0.07, SupConLoss 0.1)' },
    minerOption('none'),
    distanceOption('cosine'),
    ...MINER_OPTIONS,
  ],
} as const satisfies LossDescriptor;

import type { LossDescriptor } from './descriptor.js';
import { distanceOption, MINER_OPTIONS, minerOption } from './metricOptions.js';

export const ntxentLoss = {
  name: 'NTXentLoss',
  data: 'labelled',
  inputs: 'items',
  targets: 'labels',
  summary: "pytorch-metric-learning's NTXentLoss (InfoNCE, SimCLR): each positive pair's cross-entropy against its anchor's negatives",
  options: [
    { name: 'temperature', kind: 'number', default: 0.07, min: 0, minExclusive: true, description: 'softmax temperature (NTXentLoss 0.07, SupConLoss 0.1)' },
    minerOption('none'),
    distanceOption('cosine'),
    ...MINER_OPTIONS,
  ],
} as const satisfies LossDescriptor;

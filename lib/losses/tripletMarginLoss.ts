import type { LossDescriptor } from './descriptor.js';
import { distanceOption, MINER_OPTIONS, minerOption } from './metricOptions.js';

export const tripletMarginLoss = {
  name: 'TripletMarginLoss',
  data: 'labelled',
  inputs: 'items',
  targets: 'labels',
  summary:
    "pytorch-metric-learning's TripletMarginLoss: hinge of every triplet (or the mined ones), mean of the non-zero hinges; with the batch-hard, semi-hard or all miner, the original finetuner's (raw L2, mean of the mined hinges)",
  options: [
    { name: 'margin', kind: 'number', default: 0.05, min: 0, minExclusive: true, description: 'triplet margin' },
    minerOption('none'),
    distanceOption('l2'),
    ...MINER_OPTIONS,
  ],
} as const satisfies LossDescriptor;

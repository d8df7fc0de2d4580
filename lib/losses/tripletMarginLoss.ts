import type { LossDescriptor } from './descriptor.js';
import { distanceOption, MINER_OPTIONS, minerOption } from './metricOptions.js';

export const tripletMarginLoss = {
  name: 'TripletMarginLoss',
  data: 'labelled',
  inputs: 'items',
  targets: 'labels',
  summary:
    "hinge of the mined triplets; with a PML miner or none, pytorch-metric-learning's TripletMarginLoss (mean of the non-zero hinges); with batch-hard, semi-hard or all, the original finetuner's (raw L2, mean)",
  options: [
    { name: 'margin', kind: 'number', default: 0.2, min: 0, minExclusive: true, description: "triplet margin (PML's default is 0.05)" },
    minerOption('batch-hard'),
    distanceOption('l2'),
    ...MINER_OPTIONS,
  ],
} as const satisfies LossDescriptor;

import type { LossDescriptor } from './descriptor.js';
import { distanceOption, MINER_OPTIONS, minerOption, PAIR_MARGIN_OPTIONS } from './metricOptions.js';

export const liftedStructureLoss = {
  name: 'LiftedStructureLoss',
  data: 'labelled',
  inputs: 'items',
  targets: 'labels',
  summary: "pytorch-metric-learning's LiftedStructureLoss: each positive pair against a soft maximum over the negatives of its two rows",
  options: [
    ...PAIR_MARGIN_OPTIONS,
    minerOption('none'),
    distanceOption('l2'),
    ...MINER_OPTIONS,
  ],
} as const satisfies LossDescriptor;

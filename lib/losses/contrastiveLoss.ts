import type { LossDescriptor } from './descriptor.js';
import { distanceOption, MINER_OPTIONS, minerOption, PAIR_MARGIN_OPTIONS } from './metricOptions.js';

export const contrastiveLoss = {
  name: 'ContrastiveLoss',
  data: 'labelled',
  inputs: 'items',
  targets: 'labels',
  summary: "pytorch-metric-learning's ContrastiveLoss: positive pairs pay past posMargin, negative pairs within negMargin, each averaged over its non-zero pairs",
  options: [
    ...PAIR_MARGIN_OPTIONS,
    minerOption('none'),
    distanceOption('l2'),
    ...MINER_OPTIONS,
  ],
} as const satisfies LossDescriptor;

import type { LossDescriptor } from './descriptor.js';
import { MINER_OPTIONS, minerOption } from './metricOptions.js';

export const circleLoss = {
  name: 'CircleLoss',
  data: 'labelled',
  inputs: 'items',
  targets: 'labels',
  summary: "pytorch-metric-learning's CircleLoss (cosine similarity): each pair weighted by its distance from its optimum",
  options: [
    { name: 'm', kind: 'number', default: 0.4, min: 0, description: 'relaxation margin' },
    { name: 'gamma', kind: 'number', default: 80, min: 0, minExclusive: true, description: 'scale' },
    minerOption('none'),
    ...MINER_OPTIONS,
  ],
} as const satisfies LossDescriptor;

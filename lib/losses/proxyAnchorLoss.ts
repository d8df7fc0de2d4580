import type { LossDescriptor } from './descriptor.js';
import { distanceOption, MINER_OPTIONS, minerOption } from './metricOptions.js';

export const proxyAnchorLoss = {
  name: 'ProxyAnchorLoss',
  data: 'labelled',
  inputs: 'items',
  targets: 'labels',
  summary: "pytorch-metric-learning's ProxyAnchorLoss: each learned class proxy pulls its class's rows and pushes the others",
  options: [
    { name: 'numClasses', kind: 'number', default: 0, min: 0, integer: true, description: 'the number of labels (0: from the training data; computeLoss needs it)' },
    { name: 'lossLearningRate', kind: 'number', default: 0.01, min: 0, minExclusive: true, description: "learning rate of the loss's own weights (follows the schedule)" },
    { name: 'margin', kind: 'number', default: 0.1, min: 0, description: 'ArcFaceLoss: angular margin in degrees (28.6); CosFaceLoss: cosine margin (0.35); ProxyAnchorLoss: 0.1' },
    { name: 'alpha', kind: 'number', default: 32, min: 0, minExclusive: true, description: 'MultiSimilarityLoss: weight of the positive pairs (2); ProxyAnchorLoss: scale (32)' },
    minerOption('none'),
    distanceOption('cosine'),
    ...MINER_OPTIONS,
  ],
} as const satisfies LossDescriptor;

import type { LossDescriptor } from './descriptor.js';
import { MINER_OPTIONS, minerOption } from './metricOptions.js';

export const cosFaceLoss = {
  name: 'CosFaceLoss',
  data: 'labelled',
  inputs: 'items',
  targets: 'labels',
  summary: "pytorch-metric-learning's CosFaceLoss: softmax over learned class weights with an additive cosine margin",
  options: [
    { name: 'numClasses', kind: 'number', default: 0, min: 0, integer: true, description: 'the number of labels (0: from the training data; computeLoss needs it)' },
    { name: 'lossLearningRate', kind: 'number', default: 0.01, min: 0, minExclusive: true, description: "learning rate of the loss's own weights (follows the schedule)" },
    { name: 'margin', kind: 'number', default: 0.35, min: 0, description: 'ArcFaceLoss: angular margin in degrees (28.6); CosFaceLoss: cosine margin (0.35); ProxyAnchorLoss: 0.1' },
    { name: 'scale', kind: 'number', default: 64, min: 0, minExclusive: true, description: 'scale of the logits' },
    minerOption('none'),
    ...MINER_OPTIONS,
  ],
} as const satisfies LossDescriptor;

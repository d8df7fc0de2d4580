import type { LossDescriptor } from './descriptor.js';

export const clipLoss = {
  name: 'CLIPLoss',
  data: 'text-image',
  inputs: 'texts, images',
  targets: 'group ids',
  summary: "CLIP's symmetric contrastive loss over the batch's text-image pairs, with the model's learned temperature",
  options: [],
} as const satisfies LossDescriptor;

// computeLoss: one loss of LOSSES on given embeddings, without a model, with its gradient: to check a
// loss against another library (test/metric-losses.test.ts does so against pytorch-metric-learning), or
// to look at what a miner chooses. Options are checked by the loss's descriptor, as fit() checks them.
import { loadBinding } from '../addonLoader.js';
import { LOSS_NAMES, lossDescriptor, resolveLossOptions, type Loss, type LossOptions } from './index.js';

export interface ComputeLossInput {
  /** Rows x dim float32 values: one array, or one per input batch for the losses that take several. */
  embeddings: Float32Array | Float32Array[];
  /** Width of one embedding. */
  dim: number;
  /** Labels or group ids (Int32Array), or scores (Float32Array): one per row. */
  targets: Int32Array | Float32Array;
  /** The loss's options (as fit() takes them; defaults in the README). */
  options?: LossOptions;
  /** 'float64' computes in double precision (gradients still come back as float32). Default 'float32'. */
  dtype?: 'float32' | 'float64';
}

export interface ComputeLossResult {
  loss: number;
  /** Mined triplets or pairs, or pairs of a pair loss, that contributed. */
  examples: number;
  /** d loss / d embeddings, one array per embeddings array, in its layout. */
  gradients: Float32Array[];
  /** What the loss's miner chose: [anchors, positives, negatives] or [a1, p, a2, n] row indices. */
  mined?: Int32Array[];
  /** The loss's own parameters (ArcFaceLoss's and CosFaceLoss's W, ProxyAnchorLoss's proxies): values, shape, gradient. */
  parameters: Record<string, { values: Float32Array; gradient: Float32Array; shape: number[] }>;
}

export async function computeLoss(name: Loss, input: ComputeLossInput): Promise<ComputeLossResult> {
  if (!LOSS_NAMES.includes(name)) throw new TypeError(`computeLoss: loss must be one of ${LOSS_NAMES.join(', ')}, got ${JSON.stringify(name)}`);
  const options = resolveLossOptions(lossDescriptor(name), input.options ?? {});
  const embeddings = Array.isArray(input.embeddings) ? input.embeddings : [input.embeddings];
  if (!Number.isInteger(input.dim) || input.dim < 1) throw new TypeError(`computeLoss: dim must be a positive integer, got ${input.dim}`);
  const dtype = input.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float64') throw new TypeError(`computeLoss: dtype must be float32 or float64, got ${JSON.stringify(dtype)}`);
  return loadBinding().computeLoss(name, embeddings, input.dim, input.targets, options, dtype);
}

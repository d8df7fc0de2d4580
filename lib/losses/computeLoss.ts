// computeLoss: one loss of LOSSES on given embeddings, without a model, with its gradient: to check a
// loss against another library (test/metric-losses.test.ts does so against pytorch-metric-learning), or
// to look at what a miner chooses. Options are checked by the loss's descriptor, as fit() checks them;
// the arguments are checked here so that an error names the argument, before anything is copied.
import { loadBinding } from '../addonLoader.js';
import type { Embeddings } from '../encodePipeline.js';
import { LOSS_NAMES, lossDescriptor, resolveLossOptions, type Loss, type LossOptions } from './index.js';

/**
 * Embeddings as encode() returns them ({ rows, dim, data }), an array of those for the losses that take
 * several input batches (MultipleNegativesRankingLoss: queries, documents[, negatives]), or one
 * Float32Array per row.
 */
export type ComputeLossEmbeddings = Embeddings | readonly Embeddings[] | readonly Float32Array[];

export interface ComputeLossOptions extends LossOptions {
  /** 'float64' computes in double precision (results still come back as float32). Default 'float32'. */
  dtype?: 'float32' | 'float64';
}

export interface ComputeLossResult {
  loss: number;
  /** d loss / d embeddings, rows x dim, row-major (of the first input batch where there are several). */
  gradient: Float32Array;
  /** One gradient per input batch. */
  gradients: Float32Array[];
  /** Mined triplets or pairs, or pairs of a pair loss, that contributed. */
  examples: number;
  /** What the loss's miner chose: [anchors, positives, negatives] or [a1, p, a2, n] row indices. */
  mined?: Int32Array[];
  /** The loss's own parameters (ArcFaceLoss's and CosFaceLoss's W, ProxyAnchorLoss's proxies): values, shape, gradient. */
  parameters: Record<string, { values: Float32Array; gradient: Float32Array; shape: number[] }>;
}

const ARGUMENT = 'computeLoss: argument';

function isEmbeddings(value: unknown): value is Embeddings {
  return typeof value === 'object' && value !== null && (value as Embeddings).data instanceof Float32Array;
}

/** The embeddings as one row-major Float32Array per input batch, and the width of a row. */
function inputBatches(embeddings: unknown): { batches: Float32Array[]; dim: number } {
  const expected = "'embeddings' must be { rows, dim, data: Float32Array } (as encode() returns), an array of them, or an array of Float32Array rows";
  if (isEmbeddings(embeddings)) return inputBatches([embeddings]);
  if (!Array.isArray(embeddings) || embeddings.length === 0) throw new TypeError(`${ARGUMENT} ${expected}`);
  if (embeddings.every((row) => row instanceof Float32Array)) {
    const rows = embeddings as Float32Array[];
    const dim = rows[0]!.length;
    if (dim === 0) throw new RangeError(`${ARGUMENT} 'embeddings': row 0 is empty`);
    const data = new Float32Array(rows.length * dim);
    rows.forEach((row, i) => {
      if (row.length !== dim) throw new RangeError(`${ARGUMENT} 'embeddings': row ${i} has ${row.length} values, row 0 has ${dim}`);
      data.set(row, i * dim);
    });
    return { batches: [data], dim };
  }
  if (!embeddings.every(isEmbeddings)) throw new TypeError(`${ARGUMENT} ${expected}`);
  const dim = embeddings[0]!.dim;
  const batches = embeddings.map((batch, i) => {
    const where = embeddings.length > 1 ? `'embeddings[${i}]'` : "'embeddings'";
    if (!Number.isInteger(batch.dim) || batch.dim < 1) throw new RangeError(`${ARGUMENT} ${where}: dim must be a positive integer, got ${batch.dim}`);
    if (batch.dim !== dim) throw new RangeError(`${ARGUMENT} ${where}: dim ${batch.dim} differs from the first batch's ${dim}`);
    if (batch.data.length === 0 || batch.data.length % batch.dim !== 0) {
      throw new RangeError(`${ARGUMENT} ${where}: ${batch.data.length} values are not rows of ${batch.dim}`);
    }
    const rows = batch.data.length / batch.dim;
    if (batch.rows !== undefined && batch.rows !== rows) throw new RangeError(`${ARGUMENT} ${where}: rows is ${batch.rows} but data holds ${rows} rows of ${batch.dim}`);
    if (i > 0 && rows !== embeddings[0]!.data.length / dim) throw new RangeError(`${ARGUMENT} ${where}: every input batch needs the same rows`);
    return batch.data;
  });
  return { batches, dim };
}

/** One label or group id (Int32Array) or score (Float32Array) per row, as the loss takes them. */
function targetsOf(name: Loss, values: unknown, rows: number): Int32Array | Float32Array {
  const kind = lossDescriptor(name).targets;
  const where = `${ARGUMENT} 'labelsOrGroups'`;
  let targets: Int32Array | Float32Array;
  if (values instanceof Int32Array || values instanceof Float32Array) {
    targets = values;
  } else if (Array.isArray(values) && values.every((value) => typeof value === 'number' && Number.isFinite(value))) {
    if (kind !== 'scores' && !values.every((value) => Number.isInteger(value) && Math.abs(value) < 2 ** 31)) {
      throw new TypeError(`${where}: ${name} takes ${kind}, integers (an array of numbers or an Int32Array)`);
    }
    targets = kind === 'scores' ? Float32Array.from(values) : Int32Array.from(values);
  } else {
    throw new TypeError(`${where} must be an Int32Array of labels or group ids, a Float32Array of scores, or an array of numbers`);
  }
  if (kind === 'scores' ? !(targets instanceof Float32Array) : !(targets instanceof Int32Array)) {
    throw new TypeError(`${where}: ${name} takes ${kind} (${kind === 'scores' ? 'a Float32Array' : 'an Int32Array'})`);
  }
  if (targets.length !== rows) throw new RangeError(`${where} has ${targets.length} entries for ${rows} rows`);
  return targets;
}

/**
 * The value of loss `name` on `embeddings` with their labels (or group ids, or scores), and its gradient
 * with respect to the embeddings; options as fit() takes them.
 */
export async function computeLoss(
  name: Loss,
  embeddings: ComputeLossEmbeddings,
  labelsOrGroups: Int32Array | Float32Array | readonly number[],
  options: ComputeLossOptions = {},
): Promise<ComputeLossResult> {
  if (!LOSS_NAMES.includes(name)) throw new TypeError(`${ARGUMENT} 'name': the loss must be one of ${LOSS_NAMES.join(', ')}, got ${JSON.stringify(name)}`);
  if (typeof options !== 'object' || options === null) throw new TypeError(`${ARGUMENT} 'options' must be an object`);
  const { dtype = 'float32', ...given } = options;
  if (dtype !== 'float32' && dtype !== 'float64') throw new TypeError(`${ARGUMENT} 'options': dtype must be float32 or float64, got ${JSON.stringify(dtype)}`);
  const lossOptions = resolveLossOptions(lossDescriptor(name), given);
  const { batches, dim } = inputBatches(embeddings);
  const targets = targetsOf(name, labelsOrGroups, batches[0]!.length / dim);
  const result = await loadBinding().computeLoss(name, batches, dim, targets, lossOptions, dtype);
  return { ...result, gradient: result.gradients[0]! };
}

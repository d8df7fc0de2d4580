// How an epoch is cut into batches, for every kind of training data. One list (SAMPLERS) that fit(),
// the CLI and the README read; 'auto' picks by loss:
// - 'class': numItemsPerClass items of each of batchSize / numItemsPerClass labels (ClassSampler, in
//   sampler.ts): metric losses need positives and negatives in every batch;
// - 'no-duplicates': shuffled, but no text (or image) appears twice in a batch, as sentence-transformers'
//   NoDuplicatesBatchSampler: with in-batch negatives a duplicate is a false negative;
// - 'random': shuffled rows, every row once an epoch.
// All are deterministic from (seed, epoch), so a run with the same seed sees the same batches.
import { mulberry32 } from './sampler.js';

export const SAMPLERS = {
  auto: "by loss: 'class' for metric losses on labelled data, 'no-duplicates' for in-batch-negative losses, else 'random'",
  class: 'numItemsPerClass items of batchSize / numItemsPerClass labels per batch (labelled data)',
  'no-duplicates': 'shuffled rows, no text or image twice in one batch (pairs)',
  random: 'shuffled rows, each once an epoch',
} as const;

export type SamplerName = keyof typeof SAMPLERS;
export const SAMPLER_NAMES = Object.keys(SAMPLERS) as SamplerName[];

/** The mixed seed of an epoch's shuffle: consecutive epochs and seeds give unrelated streams. */
function epochRandom(seed: number, epoch: number): () => number {
  return mulberry32(Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) ^ Math.imul(epoch + 1, 0x165667b1));
}

function shuffledRows(rows: number, random: () => number): number[] {
  const order = Array.from({ length: rows }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/**
 * Shuffled batches of rows, deterministic from (seed, epoch). A last batch smaller than `minBatch` is
 * dropped (in-batch negatives need company: a lone pair has nothing to rank against).
 */
export function randomBatches(rows: number, batchSize: number, seed: number, epoch: number, minBatch = 2): number[][] {
  const order = shuffledRows(rows, epochRandom(seed, epoch));
  const batches: number[][] = [];
  for (let start = 0; start < rows; start += batchSize) {
    const batch = order.slice(start, start + batchSize);
    if (batch.length >= minBatch) batches.push(batch);
  }
  return batches;
}

/**
 * Shuffled batches in which no key (a row's texts or image paths) occurs twice. Rows are taken in
 * shuffled order; a row whose key is already in the batch waits for a later one, as sentence-transformers'
 * NoDuplicatesBatchSampler. Rows that fit no batch (a key repeated in every open batch) end the epoch
 * in smaller batches; none is lost unless it would be alone.
 *
 * A batch scans the rows that waited, then the shuffled rows from where the last batch stopped, and stops
 * once full: an epoch costs about rows + waiting rows per batch, not rows per batch.
 */
export function noDuplicateBatches(keys: ReadonlyArray<readonly string[]>, batchSize: number, seed: number, epoch: number, minBatch = 2): number[][] {
  const order = shuffledRows(keys.length, epochRandom(seed, epoch));
  let next = 0; // the first row of `order` no batch has scanned yet
  let waiting: number[] = []; // rows skipped as duplicates, in order; they come before order[next..]
  const batches: number[][] = [];
  while (waiting.length > 0 || next < order.length) {
    const batch: number[] = [];
    const seen = new Set<string>();
    const stillWaiting: number[] = [];
    const consider = (row: number) => {
      if (batch.length === batchSize || keys[row]!.some((k) => seen.has(k))) {
        stillWaiting.push(row);
        return;
      }
      batch.push(row);
      for (const k of keys[row]!) seen.add(k);
    };
    for (const row of waiting) consider(row);
    while (batch.length < batchSize && next < order.length) consider(order[next++]!);
    // Rows left only with copies of their own keys cannot make a batch of minBatch: the epoch ends.
    if (batch.length < minBatch) break;
    batches.push(batch);
    waiting = stillWaiting;
  }
  return batches;
}

/** The sampler 'auto' stands for, given what a loss needs. */
export function samplerFor(requested: SamplerName, needs: { classes: boolean; inBatchNegatives: boolean }): Exclude<SamplerName, 'auto'> {
  if (requested !== 'auto') return requested;
  if (needs.classes) return 'class';
  return needs.inBatchNegatives ? 'no-duplicates' : 'random';
}

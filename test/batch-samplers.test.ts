// The batch samplers (lib/data/batchSamplers.ts, lib/data/sampler.ts) on their own, and as the training
// tasks use them (lib/trainingTasks.ts): each sampler's guarantee on the batches a task really trains on.
import { describe, expect, it } from 'vitest';
import { noDuplicateBatches, randomBatches, SAMPLER_NAMES, SAMPLERS, samplerFor } from '../lib/data/batchSamplers.js';
import { readTextData, type LabelledTextData, type TextPairData } from '../lib/data/textCsv.js';
import { lossDescriptor } from '../lib/losses/index.js';
import type { EmbeddingModel } from '../lib/model.js';
import { samplerOf, textImageTask, textTask, type BatchSampler } from '../lib/trainingTasks.js';

describe('batch samplers', () => {
  it('random: every row once an epoch, deterministic from (seed, epoch), different across epochs', () => {
    const a = randomBatches(103, 10, 5, 0);
    expect(a.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 103 }, (_, i) => i));
    expect(a.at(-1)).toHaveLength(3);
    expect(randomBatches(103, 10, 5, 0)).toEqual(a);
    expect(randomBatches(103, 10, 5, 1)).not.toEqual(a);
    expect(randomBatches(103, 10, 6, 0)).not.toEqual(a);
    expect(randomBatches(101, 10, 5, 0).flat()).toHaveLength(100); // a lone last row is dropped
  });

  it('no-duplicates: no key twice in a batch, every row used when it can be', () => {
    // 200 pairs over 40 queries: each query has 5 documents, so plain shuffling puts duplicates together.
    const keys = Array.from({ length: 200 }, (_, i) => [`q${i % 40}`, `d${i}`]);
    const batches = noDuplicateBatches(keys, 16, 3, 0);
    for (const batch of batches) {
      const seen = batch.flatMap((r) => keys[r]!);
      expect(new Set(seen).size).toBe(seen.length);
    }
    expect(batches.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(noDuplicateBatches(keys, 16, 3, 0)).toEqual(batches);
    // The plain shuffle would have had duplicates.
    const plain = randomBatches(200, 16, 3, 0);
    expect(plain.some((b) => new Set(b.map((r) => keys[r]![0])).size < b.length)).toBe(true);
  });

  it('no-duplicates: rows that can only meet their own duplicates end the epoch', () => {
    const keys = [['a'], ['a'], ['a'], ['b']];
    const batches = noDuplicateBatches(keys, 4, 0, 0);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.map((r) => keys[r]![0]).sort()).toEqual(['a', 'b']);
  });

  it("'auto' picks by what the loss needs", () => {
    expect(samplerFor('auto', { classes: true, inBatchNegatives: false })).toBe('class');
    expect(samplerFor('auto', { classes: false, inBatchNegatives: true })).toBe('no-duplicates');
    expect(samplerFor('auto', { classes: false, inBatchNegatives: false })).toBe('random');
    expect(samplerFor('random', { classes: true, inBatchNegatives: false })).toBe('random');
  });
});

// Batching needs no model: only prepare() does.
const noModel = {} as EmbeddingModel;
const settings = (sampler: BatchSampler, batchSize = 16) => ({ batchSize, numItemsPerClass: 4, seed: 11, sampler });
const all = (n: number) => Array.from({ length: n }, (_, i) => i);
const sorted = (rows: number[]) => [...rows].sort((a, b) => a - b);

describe('samplers in the training tasks', () => {
  // 120 labelled texts over 10 labels; 160 pairs over 40 queries (4 documents each) with 20 documents
  // shared between two queries, so duplicates are common.
  const labelled = { kind: 'labelled', items: all(120).map((i) => ({ text: `text ${i}`, label: `l${i % 10}` })) };
  const pairs = all(160).map((i) => ({ query: `q${i % 40}`, document: i < 40 ? `shared ${i % 20}` : `d${i}` }));

  it("the list is written once: every name has a description, and 'auto' is among them", () => {
    expect(SAMPLER_NAMES).toEqual(['auto', 'class', 'no-duplicates', 'random']);
    for (const name of SAMPLER_NAMES) expect(SAMPLERS[name].length).toBeGreaterThan(10);
  });

  it("'auto' follows the loss; 'class' is refused for data without labels", () => {
    expect(samplerOf('auto', lossDescriptor('TripletMarginLoss'))).toBe('class');
    expect(samplerOf('auto', lossDescriptor('MultipleNegativesRankingLoss'))).toBe('no-duplicates');
    expect(samplerOf('auto', lossDescriptor('CLIPLoss'))).toBe('no-duplicates');
    expect(samplerOf('auto', lossDescriptor('CosineSimilarityLoss'))).toBe('random');
    expect(samplerOf('random', lossDescriptor('TripletMarginLoss'))).toBe('random');
    expect(() => samplerOf('class', lossDescriptor('MultipleNegativesRankingLoss'))).toThrow(
      /option 'sampler' is 'class', but query-document pairs have no labels; use 'no-duplicates' or 'random'/,
    );
  });

  it('class: every batch holds numItemsPerClass items of each of its labels; the same seed gives the same batches', async () => {
    const data = (await readTextData(labelled.items, 'trainData')) as LabelledTextData;
    const task = textTask(noModel, data, settings('class'));
    expect(task.batchesPerEpoch).toBe(Math.ceil(120 / 16));
    for (const epoch of [0, 1]) {
      for (const batch of task.batches(epoch)) {
        const perLabel = new Map<string, number>();
        for (const row of batch) perLabel.set(data.items[row]!.label, (perLabel.get(data.items[row]!.label) ?? 0) + 1);
        expect([...perLabel.values()]).toEqual([4, 4, 4, 4]);
      }
    }
    expect(textTask(noModel, data, settings('class')).batches(1)).toEqual(task.batches(1));
    expect(task.batches(1)).not.toEqual(task.batches(0));
  });

  it('no-duplicates: no text twice in a batch, a pair at most once an epoch; the same seed gives the same batches', async () => {
    const data = (await readTextData(pairs, 'trainData')) as TextPairData;
    const task = textTask(noModel, data, settings('no-duplicates'));
    for (const epoch of [0, 1, 2]) {
      const batches = task.batches(epoch);
      for (const batch of batches) {
        const texts = batch.flatMap((row) => [data.pairs[row]!.query, data.pairs[row]!.document]);
        expect(new Set(texts).size).toBe(texts.length);
      }
      // Each pair at most once; only rows left at the end with nothing but their own duplicates drop out.
      const rows = batches.flat();
      expect(new Set(rows).size).toBe(rows.length);
      expect(rows.length).toBeGreaterThanOrEqual(152);
    }
    expect(textTask(noModel, data, settings('no-duplicates')).batches(2)).toEqual(task.batches(2));
    // The same data in random batches does repeat texts: the guarantee is the sampler's doing.
    const random = textTask(noModel, data, settings('random')).batches(0);
    expect(random.some((batch) => new Set(batch.map((row) => data.pairs[row]!.query)).size < batch.length)).toBe(true);
  });

  it('random: each epoch a permutation of the rows, in full batches but the last; the same seed gives the same batches', async () => {
    const scored = await readTextData(all(50).map((i) => ({ a: `a${i}`, b: `b${i}`, score: (i % 5) / 4 })), 'trainData');
    const task = textTask(noModel, scored, settings('random'));
    expect(task.batchesPerEpoch).toBe(4);
    for (const epoch of [0, 1]) {
      const batches = task.batches(epoch);
      expect(batches.map((b) => b.length)).toEqual([16, 16, 16, 2]);
      expect(sorted(batches.flat())).toEqual(all(50));
    }
    expect(task.batches(0).flat()).not.toEqual(all(50));
    expect(textTask(noModel, scored, settings('random')).batches(1)).toEqual(task.batches(1));
    expect(textTask(noModel, scored, { ...settings('random'), seed: 12 }).batches(1)).not.toEqual(task.batches(1));
  });

  it('no-duplicates keeps image paths apart too (CLIP pairs); a pair that can only meet copies of itself is named', () => {
    const data = { pairs: all(40).map((i) => ({ text: `caption ${i % 10}`, image: `img${i % 8}.png` })), groups: new Int32Array(40), groupCount: 10 };
    for (const batch of textImageTask(noModel, data, settings('no-duplicates', 8)).batches(0)) {
      expect(new Set(batch.map((row) => data.pairs[row]!.image)).size).toBe(batch.length);
      expect(new Set(batch.map((row) => data.pairs[row]!.text)).size).toBe(batch.length);
    }
    const same = { pairs: all(6).map(() => ({ text: 'one caption', image: 'one.png' })), groups: new Int32Array(6), groupCount: 1 };
    expect(() => textImageTask(noModel, same, settings('no-duplicates'))).toThrow(/sampler 'no-duplicates' finds no 2 rows without a text or image in common; use sampler 'random'/);
    expect(textImageTask(noModel, same, settings('random')).batchesPerEpoch).toBe(1);
  });
});

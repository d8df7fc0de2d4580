import { describe, expect, it } from 'vitest';
import { noDuplicateBatches, randomBatches, samplerFor } from '../lib/data/batchSamplers.js';

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

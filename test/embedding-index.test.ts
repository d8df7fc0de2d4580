// EmbeddingIndex: add with ids, search by vector (against a brute-force reference) and through an
// encoder, save and load as a folder, and every bad input and corrupted file named in its error.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../lib/data/sampler.js';
import { EmbeddingIndex } from '../lib/embeddingIndex.js';
import type { Embeddings } from '../lib/encodePipeline.js';
import { readNpy, writeNpy } from '../lib/npy.js';

const DIM = 16;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetuner-index-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const random = mulberry32(3);
const rows = (n: number): Float32Array => Float32Array.from({ length: n * DIM }, () => random() * 2 - 1);

/** Ids of the index rows by cosine similarity to `query`, best first (double precision). */
function ranked(index: Float32Array, ids: string[], query: Float32Array): { id: string; score: number }[] {
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  return ids
    .map((id, j) => {
      const row = index.subarray(j * DIM, (j + 1) * DIM);
      return { id, score: row.reduce((a, x, d) => a + x * query[d]!, 0) / (norm(row) * norm(query)) };
    })
    .sort((a, b) => b.score - a.score);
}

function filled(count: number, prefix = 'doc'): { index: EmbeddingIndex; data: Float32Array; ids: string[] } {
  const index = new EmbeddingIndex(DIM);
  const data = rows(count);
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  index.add(ids.slice(0, 10), data.subarray(0, 10 * DIM));
  index.add(ids.slice(10), { rows: count - 10, dim: DIM, data: data.slice(10 * DIM) });
  return { index, data, ids };
}

describe('EmbeddingIndex: add and search', () => {
  it('finds the nearest ids by cosine similarity, best first', async () => {
    const { index, data, ids } = filled(120);
    expect(index.size).toBe(120);
    expect(index.ids).toEqual(ids);
    const queries = rows(5);
    const hits = await index.search(queries, { k: 4 });
    expect(hits).toHaveLength(5);
    hits.forEach((row, q) => {
      const want = ranked(data, ids, queries.subarray(q * DIM, (q + 1) * DIM)).slice(0, 4);
      expect(row.map((hit) => hit.id)).toEqual(want.map((hit) => hit.id));
      row.forEach((hit, i) => expect(hit.score).toBeCloseTo(want[i]!.score, 5));
    });
    expect((await index.search(queries)).every((row) => row.length === 10)).toBe(true); // default k
    expect((await index.search(queries, { k: 500 }))[0]).toHaveLength(120); // clamped to the size
    expect(await new EmbeddingIndex(DIM).search(queries)).toEqual([[], [], [], [], []]);
  });

  it('grows between searches: rows added after a search take part in the next', async () => {
    const { index, data, ids } = filled(20);
    const queries = rows(3);
    await index.search(queries, { k: 3 });
    const more = rows(50);
    const moreIds = Array.from({ length: 50 }, (_, i) => `more-${i}`);
    index.add(moreIds.slice(0, 25), more.subarray(0, 25 * DIM));
    const pending = index.search(queries, { k: 6 }); // queued before the next add: sees 45 or 70 rows
    index.add(moreIds.slice(25), more.subarray(25 * DIM));
    await pending;
    const all = new Float32Array([...data, ...more]);
    const allIds = [...ids, ...moreIds];
    const hits = await index.search(queries, { k: 6 });
    hits.forEach((row, q) => expect(row.map((hit) => hit.id)).toEqual(ranked(all, allIds, queries.subarray(q * DIM, (q + 1) * DIM)).slice(0, 6).map((hit) => hit.id)));
    const bf16 = await index.search(queries, { k: 1, precision: 'bf16' });
    bf16.forEach((row, q) => expect(row[0]!.score).toBeCloseTo(ranked(all, allIds, queries.subarray(q * DIM, (q + 1) * DIM))[0]!.score, 2));
  });

  it('searches through anything with encodeMany, or a model\'s encode / encodeText / encodeImage', async () => {
    const { index, data } = filled(30);
    const calls: string[] = [];
    const vectors = (inputs: readonly unknown[]): Embeddings => ({ rows: inputs.length, dim: DIM, data: data.slice(0, inputs.length * DIM) });
    const batcher = { encodeMany: async (inputs: readonly unknown[], options?: { kind?: 'text' | 'image' }) => (calls.push(`many:${options?.kind}`), vectors(inputs)) };
    const model = {
      precision: 'bf16',
      encode: async (inputs: readonly unknown[]) => (calls.push('encode'), vectors(inputs)),
      encodeText: async (inputs: readonly string[]) => (calls.push('text'), vectors(inputs)),
      encodeImage: async (inputs: readonly unknown[]) => (calls.push('image'), vectors(inputs)),
    };
    const byBatcher = await index.searchWith(batcher, ['a', 'b'], { k: 1, kind: 'text' });
    expect(byBatcher.map((row) => row[0]!.id)).toEqual(['doc-0', 'doc-1']);
    await index.searchWith(model, ['a'], { k: 1 });
    await index.searchWith(model, ['a'], { k: 1, kind: 'text' });
    await index.searchWith(model, ['a'], { k: 1, kind: 'image' });
    expect(calls).toEqual(['many:text', 'encode', 'text', 'image']);
    const narrow = { encodeMany: async () => ({ rows: 1, dim: 8, data: new Float32Array(8) }) };
    await expect(index.searchWith(narrow, ['a'])).rejects.toThrow(/the encoder gives 8-wide embeddings, the index holds 16-wide rows/);
    await expect(index.searchWith({} as never, ['a'])).rejects.toThrow(/`encoder` must be an EmbeddingModel or an EncodeBatcher/);
    await expect(index.searchWith(batcher, ['a'], { kind: 'audio' as 'text' })).rejects.toThrow(/option 'kind' must be 'text' or 'image'/);
  });

  it('refuses bad input before adding anything, naming it', () => {
    const index = new EmbeddingIndex(DIM);
    index.add(['x'], rows(1));
    expect(() => index.add(['a', 'b'], rows(3))).toThrow(/`embeddings` has 3 rows of 16, but 2 ids were given/);
    expect(() => index.add(['a'], new Float32Array(DIM + 1))).toThrow(/`embeddings` has 17 floats, not whole rows of dim = 16/);
    expect(() => index.add(['a', 'x'], rows(2))).toThrow(/ids\[1\] "x" is already in the index/);
    expect(() => index.add(['a', 'a'], rows(2))).toThrow(/ids\[1\] "a" is already in the index/);
    expect(() => index.add(['a', ''], rows(2))).toThrow(/ids\[1\] must be a non-empty string/);
    expect(() => index.add(['a', 7 as unknown as string], rows(2))).toThrow(/ids\[1\] must be a non-empty string, got 7/);
    expect(() => index.add(['a'], { rows: 1, dim: 8, data: new Float32Array(8) })).toThrow(/`embeddings` is 8-wide, the index holds 16-wide rows/);
    const bad = rows(3);
    bad[2 * DIM + 4] = NaN;
    expect(() => index.add(['a', 'b', 'c'], bad)).toThrow(/`embeddings` row 2 \(id "c"\) holds a NaN or infinite value/);
    expect(index.ids).toEqual(['x']);
    expect(() => new EmbeddingIndex(0)).toThrow(/option 'dim' must be a positive integer/);
  });
});

describe('EmbeddingIndex: save and load', () => {
  it('round-trips ids, rows and search results; replaces an older index in place', async () => {
    const { index, data, ids } = filled(40);
    const target = join(dir, 'round-trip');
    await index.save(target);
    const meta = JSON.parse(await readFile(join(target, 'index.json'), 'utf8'));
    expect(meta).toMatchObject({ format: 'finetuner-embedding-index', version: 1, dim: DIM, count: 40 });
    expect((await readNpy(join(target, 'embeddings.npy'))).shape).toEqual([40, DIM]);
    const loaded = await EmbeddingIndex.load(target);
    expect(loaded.ids).toEqual(ids);
    expect(loaded.embeddings()).toEqual(data);
    const queries = rows(3);
    expect(await loaded.search(queries, { k: 5 })).toEqual(await index.search(queries, { k: 5 }));
    // Saving again over it swaps the new index in.
    loaded.add(['extra'], rows(1));
    await loaded.save(target);
    expect((await EmbeddingIndex.load(target)).size).toBe(41);
  });

  it('refuses to replace a folder that is not ours', async () => {
    const other = join(dir, 'not-an-index');
    await mkdir(other, { recursive: true });
    await writeFile(join(other, 'notes.txt'), 'keep me');
    await expect(filled(12).index.save(other)).rejects.toThrow(/is a non-empty directory that is not a finetuner model/);
    expect(await readFile(join(other, 'notes.txt'), 'utf8')).toBe('keep me');
  });

  describe('names the corrupted file', () => {
    let count = 0;
    /** A fresh saved index of 12 rows, with `change` applied to its folder. */
    async function corrupted(change: (folder: string) => Promise<void>): Promise<string> {
      const folder = join(dir, `corrupt-${count++}`);
      await filled(12).index.save(folder);
      await change(folder);
      return folder;
    }
    const editJson = (name: string, edit: (value: any) => unknown) => async (folder: string) => {
      const file = join(folder, name);
      await writeFile(file, JSON.stringify(edit(JSON.parse(await readFile(file, 'utf8')))));
    };

    it.each([
      ['missing index.json', async (f: string) => rm(join(f, 'index.json')), /is not an embedding index: index.json not found/],
      ['index.json not JSON', async (f: string) => writeFile(join(f, 'index.json'), '{ nope'), /index.json: not a embedding index file: invalid JSON/],
      ['another format', editJson('index.json', (m) => ({ ...m, format: 'finetuner-embedding' })), /index.json: format must be "finetuner-embedding-index"/],
      ['a newer version', editJson('index.json', (m) => ({ ...m, version: 2 })), /index.json: version 2 is not 1/],
      ['a bad dim', editJson('index.json', (m) => ({ ...m, dim: 0 })), /index.json: field "dim" must be an integer >= 1, got 0/],
      ['dim unlike the rows', editJson('index.json', (m) => ({ ...m, dim: 8 })), /embeddings.npy: shape \(12, 16\) does not match index.json's count x dim = \(12, 8\)/],
      ['count unlike the rows', editJson('index.json', (m) => ({ ...m, count: 13 })), /embeddings.npy: shape \(12, 16\) does not match .* = \(13, 16\)/],
      ['a path outside the folder', editJson('index.json', (m) => ({ ...m, embeddings: '../x.npy' })), /field "embeddings" names "..\/x.npy", which is outside/],
      ['missing ids.json', async (f: string) => rm(join(f, 'ids.json')), /ids file .*ids.json not found/],
      ['too few ids', editJson('ids.json', (ids) => ids.slice(1)), /ids.json: holds 11 ids, but .*embeddings.npy has 12 rows/],
      ['a duplicate id', editJson('ids.json', (ids) => [ids[1], ...ids.slice(1)]), /ids.json: id 1 "doc-1" appears twice/],
      ['an id that is not a string', editJson('ids.json', (ids) => [1, ...ids.slice(1)]), /ids.json: id 0 is not a non-empty string/],
      ['a NaN row', async (f: string) => {
        const values = new Float32Array(12 * DIM);
        values[7 * DIM] = NaN;
        await writeNpy(join(f, 'embeddings.npy'), values, [12, DIM]);
      }, /embeddings.npy: row 7 \(id "doc-7"\) holds a NaN or infinite value/],
      ['a truncated .npy', async (f: string) => {
        const file = join(f, 'embeddings.npy');
        await writeFile(file, (await readFile(file)).subarray(0, 200));
      }, /embeddings.npy: shape \(12, 16\) needs 768 bytes of data/],
    ])('%s', async (_name, change, message) => {
      await expect(EmbeddingIndex.load(await corrupted(change))).rejects.toThrow(message);
    });
  });
});

// The caching CPU allocator (native/caching_cpu_allocator.h): on by default, it serves a repeated encode's
// large blocks from its cache, keeps no more than FINETUNER_CPU_CACHE_MB, changes no result, and is off
// (LibTorch's own allocator) with FINETUNER_CPU_CACHE_MB=0. Each case runs in a child process, because the
// variable is read when the addon loads.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportTiny, REPO_ROOT, tempDir } from './helpers/fixtures.js';

const work = tempDir('cpu-cache');
let modelDir: string;

interface ChildResult {
  first: number[];
  second: number[];
  cpuCache: { capBytes: number; cachedBytes: number; liveBytes: number; hits: number; misses: number } | null;
}

function encodeInChild(cacheMb: string | undefined): ChildResult {
  const env = { ...process.env, OMP_NUM_THREADS: '1' };
  if (cacheMb === undefined) delete env.FINETUNER_CPU_CACHE_MB;
  else env.FINETUNER_CPU_CACHE_MB = cacheMb;
  const out = execFileSync(process.execPath, [join(REPO_ROOT, 'test', 'helpers', 'cpuCacheChild.mjs'), modelDir], { env, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as ChildResult;
}

beforeAll(() => {
  modelDir = exportTiny('resnet50', join(work.dir, 'resnet50'));
});
afterAll(() => work.cleanup());

describe('caching CPU allocator', () => {
  let cached: ChildResult;
  let uncached: ChildResult;
  beforeAll(() => {
    cached = encodeInChild(undefined);
    uncached = encodeInChild('0');
  });

  it('is on by default with a 2 GiB cap, and a repeated encode is served from the cache', () => {
    const cache = cached.cpuCache!;
    expect(cache).not.toBeNull();
    expect(cache.capBytes).toBe(2048 * 2 ** 20);
    expect(cache.hits).toBeGreaterThan(0);
    expect(cache.cachedBytes).toBeGreaterThan(0);
    expect(cache.cachedBytes).toBeLessThanOrEqual(cache.capBytes);
  });

  it('changes no result: the same embeddings as LibTorch’s own allocator, on the first and second encode', () => {
    expect(uncached.first.length).toBeGreaterThan(0);
    expect(cached.first).toEqual(uncached.first);
    expect(cached.second).toEqual(uncached.second);
    expect(cached.second).toEqual(cached.first);
  });

  it('FINETUNER_CPU_CACHE_MB=0 turns it off; a small cap is never exceeded; a value that is not a number keeps the default', () => {
    expect(uncached.cpuCache).toBeNull();
    const small = encodeInChild('1');
    expect(small.cpuCache!.capBytes).toBe(2 ** 20);
    expect(small.cpuCache!.cachedBytes).toBeLessThanOrEqual(2 ** 20);
    expect(small.first).toEqual(uncached.first);
    expect(encodeInChild('lots').cpuCache!.capBytes).toBe(2048 * 2 ** 20);
  });
});

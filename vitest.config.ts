import { defineConfig } from 'vitest/config';

// Native code: one forked worker, files run one after another, so LibTorch threads never compete and a
// crash in the addon is reported instead of taking down a shared worker.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    poolOptions: { forks: { singleFork: true } },
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});

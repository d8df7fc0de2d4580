// Benchmarks run as `npm run bench -- NAME [options]`, apart from the side-by-side model rows that
// bench/main.ts runs by default. One line per command: main.ts dispatches on the first argument.
import { runDistributedBench } from './distributed.js';
import { runEvaluateBench } from './evaluate.js';
import { runServeBench } from './serve.js';

export const BENCH_COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  /** Retrieval metrics: native fp32 and bf16 against the old JavaScript loop (bench/evaluate.ts). */
  evaluate: runEvaluateBench,
  /** Data-parallel fit: steps/s of 1 against N processes, all-reduce seconds per step (bench/distributed.ts). */
  distributed: runDistributedBench,
  /** The server's load test with autocannon, batched and unbatched (bench/serve.ts). */
  serve: runServeBench,
};

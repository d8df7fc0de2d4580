// `npm run bench -- evaluate`: retrieval metrics as evaluate() computes them, natively (LibTorch on the
// compute thread, lib/metrics.ts) in fp32 and bf16, against the JavaScript loop that lib/metrics.ts ran
// before (test/reference/retrievalMetricsJs.ts). Default: 10,000 queries x 100,000 index items x 768
// dims, 1,000 labels, k = 10, clustered random data (each row its label's centre plus noise, so the
// metrics are neither 0 nor 1). The JavaScript loop is timed on 1 query and on the first --js-queries
// queries (200), and extrapolated linearly to all of them: past its fixed cost (normalising the index) it
// costs the same per query, one pass over the index each.
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadBinding } from '../lib/addonLoader.js';
import { mulberry32 } from '../lib/data/sampler.js';
import { computeRetrievalMetrics, type RetrievalMetrics, type RetrievalMetricsOptions } from '../lib/metrics.js';
import { retrievalMetricsJs } from '../test/reference/retrievalMetricsJs.js';

const USAGE = `usage: npm run bench -- evaluate [--queries 10000] [--items 100000] [--dim 768] [--labels 1000] [--k 10]
                                [--js-queries 200] [--threads N]`;

/** Rows around one random centre per label: centre + 4 x uniform noise, so neighbours mostly share a label. */
function labelledRows(random: () => number, rows: number, dim: number, centres: Float32Array, labels: number): { embeddings: Float32Array; labels: number[] } {
  const embeddings = new Float32Array(rows * dim);
  const ids: number[] = new Array(rows);
  for (let r = 0; r < rows; r++) {
    const label = Math.floor(random() * labels);
    ids[r] = label;
    for (let d = 0; d < dim; d++) embeddings[r * dim + d] = centres[label * dim + d]! + 4 * (random() * 2 - 1);
  }
  return { embeddings, labels: ids };
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

function metricsLine(m: RetrievalMetrics): string {
  return `precision@${m.k} ${m.precisionAtK.toFixed(4)}, recall@${m.k} ${m.recallAtK.toFixed(4)}, mrr ${m.mrr.toFixed(4)}, ndcg@${m.k} ${m.ndcgAtK.toFixed(4)}, map ${m.map.toFixed(4)}`;
}

export async function runEvaluateBench(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      queries: { type: 'string', default: '10000' },
      items: { type: 'string', default: '100000' },
      dim: { type: 'string', default: '768' },
      labels: { type: 'string', default: '1000' },
      k: { type: 'string', default: '10' },
      'js-queries': { type: 'string', default: '200' },
      threads: { type: 'string', default: String(availableParallelism()) },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const count = (name: keyof typeof values): number => {
    const value = Number(values[name]);
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got ${String(values[name])}`);
    return value;
  };
  const [nq, ni, dim, labels, k, jsQueries, threads] = (['queries', 'items', 'dim', 'labels', 'k', 'js-queries', 'threads'] as const).map(count) as [
    number, number, number, number, number, number, number,
  ];
  loadBinding().setNumThreads(threads);
  const log = (line: string) => process.stdout.write(`${line}\n`);

  let started = performance.now();
  const random = mulberry32(20240612);
  const centres = Float32Array.from({ length: labels * dim }, () => random() * 2 - 1);
  const queries = labelledRows(random, nq, dim, centres, labels);
  const index = labelledRows(random, ni, dim, centres, labels);
  log(`evaluate bench: ${nq} queries x ${ni} index items x ${dim} dims, ${labels} labels, k = ${k}, ${threads} threads (data made in ${seconds(performance.now() - started)})`);

  const options: RetrievalMetricsOptions = { queries, index, dim, k, excludeSelf: false };
  const native: Record<string, { ms: number; metrics: RetrievalMetrics }> = {};
  for (const precision of ['fp32', 'bf16'] as const) {
    started = performance.now();
    const metrics = await computeRetrievalMetrics({ ...options, precision });
    native[precision] = { ms: performance.now() - started, metrics };
    log(`native ${precision}: ${seconds(native[precision]!.ms)}  (${metricsLine(metrics)})`);
  }

  // The JavaScript loop: once with one query (its fixed cost: normalising the index), once with the slice;
  // the difference is the cost per query, extrapolated linearly to all of them.
  const slice = Math.max(2, Math.min(jsQueries, nq));
  const firstQueries = (count: number) => ({ embeddings: queries.embeddings.subarray(0, count * dim), labels: queries.labels.slice(0, count) });
  started = performance.now();
  retrievalMetricsJs({ ...options, queries: firstQueries(1) });
  const jsFixedMs = performance.now() - started;
  const sliced = firstQueries(slice);
  started = performance.now();
  const js = retrievalMetricsJs({ ...options, queries: sliced });
  const jsMs = performance.now() - started;
  const jsPerQueryMs = Math.max(0, jsMs - jsFixedMs) / (slice - 1);
  const jsAll = jsFixedMs + jsPerQueryMs * (nq - 1);
  // The same queries natively, to check the two agree on the slice.
  const nativeSlice = await computeRetrievalMetrics({ ...options, queries: sliced });
  log(`JavaScript loop (before): ${seconds(jsMs)} for the first ${slice} queries (${seconds(jsFixedMs)} for 1): ${jsPerQueryMs.toFixed(1)} ms a query, ` +
    `so about ${seconds(jsAll)} for ${nq} (extrapolated linearly)`);
  log(`  on those ${slice} queries: JavaScript ${metricsLine(js)}`);
  log(`                      native fp32 ${metricsLine(nativeSlice)}`);
  log('');
  log('| metrics of 10,000 x 100,000 x 768 | time | vs JavaScript |'.replace('10,000 x 100,000 x 768', `${nq} x ${ni} x ${dim}`));
  log('|---|---|---|');
  log(`| JavaScript loop (extrapolated from ${slice} queries) | ${seconds(jsAll)} | 1x |`);
  for (const precision of ['fp32', 'bf16'] as const) {
    log(`| native ${precision} | ${seconds(native[precision]!.ms)} | ${(jsAll / native[precision]!.ms).toFixed(0)}x |`);
  }
  return 0;
}

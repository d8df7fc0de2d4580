// The before/after table the demos end with, and the option parsing they share.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FitResult } from '../lib/fit.js';
import type { RetrievalMetrics } from '../lib/metrics.js';
import type { Precision } from '../lib/precision.js';
import { formatTable } from '../lib/table.js';

const METRIC_ROWS: Array<[keyof RetrievalMetrics, string]> = [
  ['map', 'mAP'],
  ['mrr', 'MRR'],
  ['precisionAtK', 'precision@k'],
  ['recallAtK', 'recall@k'],
  ['ndcgAtK', 'nDCG@k'],
  ['hitAtK', 'hit@k'],
];

export function comparisonTable(before: RetrievalMetrics, after: RetrievalMetrics): string {
  const rows = METRIC_ROWS.map(([key, label]) => {
    const b = before[key] as number;
    const a = after[key] as number;
    return { metric: label, before: b.toFixed(4), after: a.toFixed(4), change: `${a >= b ? '+' : ''}${(a - b).toFixed(4)}` };
  });
  return formatTable(`Held-out retrieval, k = ${before.k} (${before.queries} queries)`, ['metric', 'before', 'after', 'change'], rows);
}

/** Parses a positive number option of the demo, naming it in the error. */
export function positive(value: string | undefined, option: string, fallback: number, integer = true): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0 || (integer && !Number.isInteger(parsed))) {
    throw new Error(`--${option} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

const DEMO_PRECISIONS: readonly Precision[] = ['fp32', 'bf16', 'auto', 'fp16'];

/** The help line of --precision, shared by the demos. */
export const PRECISION_HELP = '  --precision P       fp32 | bf16 | auto | fp16 (CUDA): autocast of encode and training [fp32]\n';

/** Parses --precision of a demo (default fp32, as loadModel's). */
export function precisionOption(value: string | undefined): Precision {
  if (value === undefined) return 'fp32';
  if (!DEMO_PRECISIONS.includes(value as Precision)) throw new Error(`--precision must be ${DEMO_PRECISIONS.join(', ')}, got ${JSON.stringify(value)}`);
  return value as Precision;
}

/**
 * What the demos say after fit: the epoch BestModelCheckpoint kept (scored on the validation split, never
 * on the held-out test set the table reports) and where the run's report.html is.
 */
export function keptAndReport(result: FitResult, outputDir: string): string {
  const epochs = result.history.length;
  const kept = result.kept
    ? `Kept epoch ${result.kept.epoch + 1} of ${epochs} (best validation ${result.kept.monitor} ${result.kept.value.toFixed(4)})\n`
    : '';
  const report = join(outputDir, 'report.html');
  return kept + (existsSync(report) ? `Training report: ${report}\n` : '');
}

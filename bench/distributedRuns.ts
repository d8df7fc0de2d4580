// The arithmetic and the flags of `npm run bench -- distributed` (bench/distributed.ts), apart from the
// processes and the addon so that test/bench-distributed.test.ts can check them: what a worker records
// per step, how steps/s and the communication share follow from it, and the markdown table.
import { parseArgs } from 'node:util';
import { positiveFlag, UsageError } from './shared.js';

export const DISTRIBUTED_USAGE = `usage: npm run bench -- distributed [--model resnet50] [--batch 16] [--steps 8] [--warmup 2]
                                   [--image-size N] [--processes 1,2] [--quick] [--cache DIR] [--out DIR]

Data-parallel training on this machine, 1 intra-op thread per process: rank 0's training steps/s of
fit() in one process (no process group) against fit({ distributed: true }) in N processes started by
launchWorkers (\`finetuner launch\`), each at --batch images per step (N processes: N x --batch per
optimizer step), plus the seconds per step spent in the gradient all-reduce and in all collectives,
and their share of a step (goal: all-reduce under 10% of a step for resnet50 at batch 16 per rank).

options:
  --model NAME      an image backbone of the registry, exported full size with random weights (default resnet50)
  --batch N         images per step per process (default 16)
  --steps N         measured steps per run, after the warm-up (default 8; --quick 3)
  --warmup N        steps before the clock starts (default 2; --quick 1)
  --image-size N    input side in pixels (default: the model's, 224 for resnet50; --quick 64)
  --processes LIST  process counts to compare, comma-separated (default 1,2)
  --quick           smoke run: the tiny variant of --model, 64 px, fewer steps (figures are rough)
  --cache DIR       exported models (default: $FINETUNER_BENCH_CACHE or <tmpdir>/finetuner-bench)
  --out DIR         where distributed.md and distributed.json go (default: bench-results/ in the package)`;

export interface DistributedBenchSettings {
  model: string;
  size: 'full' | 'tiny';
  batch: number;
  steps: number;
  warmup: number;
  /** undefined: the model's own input size. */
  imageSize: number | undefined;
  processes: number[];
  quick: boolean;
  cache: string | undefined;
  out: string | undefined;
  help: boolean;
}

export function parseDistributedArgs(argv: string[]): DistributedBenchSettings {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' }, batch: { type: 'string' }, steps: { type: 'string' }, warmup: { type: 'string' },
        'image-size': { type: 'string' }, processes: { type: 'string' }, quick: { type: 'boolean' }, cache: { type: 'string' },
        out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const quick = values.quick === true;
  const processes = (values.processes ?? '1,2').split(',').map((p) => positiveFlag(p.trim(), '--processes')!);
  if (new Set(processes).size !== processes.length) throw new UsageError(`--processes lists a count twice: ${values.processes}`);
  return {
    model: values.model ?? 'resnet50',
    size: quick ? 'tiny' : 'full',
    batch: positiveFlag(values.batch, '--batch') ?? 16,
    steps: positiveFlag(values.steps, '--steps') ?? (quick ? 3 : 8),
    warmup: positiveFlag(values.warmup, '--warmup') ?? (quick ? 1 : 2),
    imageSize: positiveFlag(values['image-size'], '--image-size') ?? (quick ? 64 : undefined),
    processes,
    quick,
    cache: values.cache,
    out: values.out,
    help: values.help === true,
  };
}

/** What a worker records after each training step (from fit's 'train' progress events). */
export interface StepRecord {
  /** performance.now() when the step's progress event arrived, in ms. */
  at: number;
  /** Seconds in the gradient all-reduce during the step (distributed runs). */
  allReduceSeconds?: number;
  /** Seconds in all collectives during the step: all-reduce, embedding gathers and their backward. */
  communicationSeconds?: number;
}

export interface RunSummary {
  /** Measured steps: those after the warm-up. */
  steps: number;
  seconds: number;
  stepsPerSecond: number;
  /** undefined when the run reported no communication time (one process, or a fit without the field). */
  allReducePerStep: number | undefined;
  communicationPerStep: number | undefined;
}

/**
 * Steps/s over the steps after `warmup`: the clock runs from the end of the last warm-up step to the end
 * of the last step, so each measured step is timed whole. Communication: the mean over measured steps.
 */
export function summarizeSteps(records: readonly StepRecord[], warmup: number): RunSummary {
  if (!(warmup >= 1)) throw new RangeError('summarizeSteps: warmup must be >= 1 (the clock starts at the end of a step)');
  const measured = records.slice(warmup);
  if (measured.length === 0) throw new Error(`the run made ${records.length} steps, no more than the ${warmup} warm-up steps`);
  const seconds = (records[records.length - 1]!.at - records[warmup - 1]!.at) / 1000;
  const mean = (key: 'allReduceSeconds' | 'communicationSeconds'): number | undefined =>
    measured.every((r) => typeof r[key] === 'number') ? measured.reduce((sum, r) => sum + r[key]!, 0) / measured.length : undefined;
  return {
    steps: measured.length,
    seconds,
    stepsPerSecond: measured.length / seconds,
    allReducePerStep: mean('allReduceSeconds'),
    communicationPerStep: mean('communicationSeconds'),
  };
}

export interface DistributedRow {
  processes: number;
  /** Rank 0's timing (ranks step in lockstep). */
  summary: RunSummary;
  /** Mean over ranks of their per-step all-reduce and communication seconds. */
  allReducePerStep: number | undefined;
  communicationPerStep: number | undefined;
}

/** Mean of every rank's per-step figures; undefined when any rank has none. */
export function combineRanks(processes: number, ranks: readonly RunSummary[]): DistributedRow {
  if (ranks.length !== processes) throw new Error(`expected the results of ${processes} ranks, got ${ranks.length}`);
  const mean = (key: 'allReducePerStep' | 'communicationPerStep'): number | undefined =>
    ranks.every((r) => r[key] !== undefined) ? ranks.reduce((sum, r) => sum + r[key]!, 0) / ranks.length : undefined;
  return { processes, summary: ranks[0]!, allReducePerStep: mean('allReducePerStep'), communicationPerStep: mean('communicationPerStep') };
}

const fixed = (value: number | undefined, digits: number): string => (value === undefined ? 'n/a' : value.toFixed(digits));
const percent = (value: number | undefined): string => (value === undefined ? 'n/a' : `${(100 * value).toFixed(1)}%`);

/**
 * The markdown table: per process count, steps/s and images/s (all ranks), the speed-up in images/s over
 * the first row, seconds per step, and all-reduce / all collectives per step with their share of a step.
 */
export function distributedTable(rows: readonly DistributedRow[], batch: number): string {
  const base = rows[0];
  const lines = [
    '| processes | steps/s | images/s | speed-up | s/step | all-reduce s/step | all-reduce share | collectives s/step | collectives share |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const perStep = 1 / row.summary.stepsPerSecond;
    const images = row.summary.stepsPerSecond * batch * row.processes;
    const speedUp = base ? images / (base.summary.stepsPerSecond * batch * base.processes) : 1;
    const share = (seconds: number | undefined) => (seconds === undefined ? undefined : seconds / perStep);
    lines.push(
      `| ${row.processes} | ${fixed(row.summary.stepsPerSecond, 3)} | ${fixed(images, 2)} | ${fixed(speedUp, 2)}x | ${fixed(perStep, 3)} | ` +
        `${fixed(row.allReducePerStep, 4)} | ${percent(share(row.allReducePerStep))} | ${fixed(row.communicationPerStep, 4)} | ` +
        `${percent(share(row.communicationPerStep))} |`,
    );
  }
  return lines.join('\n');
}

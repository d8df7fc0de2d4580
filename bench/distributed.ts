// `npm run bench -- distributed`: data-parallel fit() on this machine, 1 intra-op thread per process.
// One process runs plain fit() (no process group); N processes run fit({ distributed: true }), started
// by launchWorkers as `finetuner launch` starts them. Each process is bench/distributedWorker.ts; the
// arithmetic and the table are in bench/distributedRuns.ts. Prints a markdown table and writes
// bench-results/distributed.md and distributed.json.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../lib/addonLoader.js';
import { launchWorkers } from '../lib/distributed/launcher.js';
import { exportModel } from '../lib/export.js';
import { readMetadata, type ImageBackboneMetadata } from '../lib/metadata.js';
import {
  combineRanks, DISTRIBUTED_USAGE, distributedTable, parseDistributedArgs, summarizeSteps, type DistributedBenchSettings, type DistributedRow,
  type StepRecord,
} from './distributedRuns.js';
import type { WorkerConfig } from './distributedWorker.js';
import { UsageError } from './shared.js';

const WORKER = fileURLToPath(new URL('./distributedWorker.js', import.meta.url));
const log = (message: string) => process.stderr.write(`bench distributed: ${message}\n`);

/** The backbone exported once per cache: random init, full size (or tiny with --quick). */
async function exportedBackbone(cache: string, name: string, size: 'full' | 'tiny'): Promise<string> {
  const dir = join(cache, `${name.replace(/[^\w.-]/g, '_')}-${size}-random`);
  if (existsSync(join(dir, 'finetuner.json'))) {
    try {
      await readMetadata(dir);
      return dir;
    } catch {
      // stale or partial: export again
    }
  }
  log(`exporting ${name} (${size}, random init) to ${dir}`);
  await exportModel(name, { outDir: dir, randomInit: true, size });
  return dir;
}

/** One run: `processes` workers (1: plain fit), each writing its step records; rank by rank. */
async function runOnce(settings: DistributedBenchSettings, modelDir: string, imageSize: number, processes: number): Promise<DistributedRow> {
  const out = await mkdtemp(join(tmpdir(), 'finetuner-bench-distributed-'));
  try {
    const config: WorkerConfig = {
      modelDir, batch: settings.batch, steps: settings.warmup + settings.steps, imageSize, distributed: processes > 1, out,
    };
    log(`${processes} process${processes === 1 ? '' : 'es'}: ${config.steps} steps of ${settings.batch} images per process`);
    // 1 intra-op thread per process for every row, the single process included, so rows compare
    // processes rather than threads.
    await launchWorkers({
      nproc: processes, argv: [JSON.stringify(config)], command: [process.execPath, WORKER], env: { ...process.env, OMP_NUM_THREADS: '1' },
      gracePeriodMs: 10_000,
    });
    const ranks = [];
    for (let rank = 0; rank < processes; rank++) {
      const { records } = JSON.parse(await readFile(join(out, `rank-${rank}.json`), 'utf8')) as { records: StepRecord[] };
      // Each rank reads its shard of the epoch: config.steps steps each. More means fit did not shard.
      if (records.length !== config.steps) log(`warning: rank ${rank} made ${records.length} steps, not ${config.steps}: did fit shard the data?`);
      ranks.push(summarizeSteps(records, settings.warmup));
    }
    return combineRanks(processes, ranks);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

export async function runDistributedBench(argv: string[]): Promise<number> {
  let settings: DistributedBenchSettings;
  try {
    settings = parseDistributedArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench distributed: ${error.message}\n\n${DISTRIBUTED_USAGE}\n`);
    return 2;
  }
  if (settings.help) {
    process.stdout.write(`${DISTRIBUTED_USAGE}\n`);
    return 0;
  }
  const cache = resolve(settings.cache ?? process.env.FINETUNER_BENCH_CACHE ?? join(tmpdir(), 'finetuner-bench'));
  const outDir = resolve(settings.out ?? join(packageRoot(), 'bench-results'));
  await mkdir(cache, { recursive: true });
  const modelDir = await exportedBackbone(cache, settings.model, settings.size);
  const metadata = await readMetadata(modelDir);
  if (!('preprocessing' in metadata) || metadata.task !== 'image-to-image') {
    process.stderr.write(`bench distributed: --model ${settings.model} is not an image backbone\n`);
    return 2;
  }
  const imageSize = settings.imageSize ?? (metadata as ImageBackboneMetadata).preprocessing.crop;

  const rows: DistributedRow[] = [];
  for (const processes of settings.processes) rows.push(await runOnce(settings, modelDir, imageSize, processes));
  const title =
    `${settings.model}${settings.size === 'tiny' ? ' (tiny)' : ''}, random init, ${imageSize}x${imageSize}, batch ${settings.batch} per process, ` +
    `batch-hard triplet, adam; ${settings.steps} measured steps after ${settings.warmup} warm-up; 1 thread per process`;
  const table = distributedTable(rows, settings.batch);
  const notes = rows.some((r) => r.processes > 1 && r.allReducePerStep === undefined)
    ? ['\nThe distributed runs reported no all-reduce time: fit() did not put allReduceSeconds on its progress events.']
    : [];
  const markdown = `## Distributed training\n\n${title}\n\n${table}\n${notes.join('\n')}\n`;
  process.stdout.write(markdown);
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'distributed.md'), markdown);
  await writeFile(join(outDir, 'distributed.json'), `${JSON.stringify({ settings: { ...settings, imageSize }, rows }, null, 2)}\n`);
  log(`wrote ${join(outDir, 'distributed.md')} and distributed.json`);
  return 0;
}

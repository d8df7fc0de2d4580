// One process of `npm run bench -- distributed`, started by launchWorkers with torchrun's variables set:
// fit() on synthetic images for warm-up + measured steps (one epoch), then its step records written to
// <out>/rank-<RANK>.json. Run as `node dist-tools/bench/distributedWorker.js '<WorkerConfig JSON>'`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RawImage } from '../lib/data/images.js';
import { fit } from '../lib/fit.js';
import type { FitOptions, FitProgress } from '../lib/fitOptions.js';
import { LOSS_OPTIONS, TRAINING } from './resnet.js'; // the resnet50 rows of `npm run bench` train the same way
import type { StepRecord } from './distributedRuns.js';

export interface WorkerConfig {
  modelDir: string;
  batch: number;
  /** Steps of the one epoch: warm-up and measured. */
  steps: number;
  imageSize: number;
  distributed: boolean;
  out: string;
}

/**
 * fit()'s distributed switch and the per-step communication figures, as the distributed core names them
 * (issue 14): `distributed: true` in FitOptions, and `allReduceSeconds` / `communicationSeconds` on the
 * 'train' progress event (the native train step's result fields). Until that core is merged they are
 * not in FitOptions / FitProgress, hence the widened types here.
 */
type DistributedFitOptions = FitOptions & { distributed?: boolean };
type TrainEvent = Extract<FitProgress, { phase: 'train' }> & { allReduceSeconds?: number; communicationSeconds?: number };

const ITEMS_PER_CLASS = 4;

/** `count` images of seeded random pixels (the same on every rank), 2 x ITEMS_PER_CLASS per class. */
function syntheticImages(count: number, size: number, seed: number): Array<{ image: RawImage; label: string }> {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0; // mulberry32
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return Array.from({ length: count }, (_, i) => {
    const pixels = new Uint8Array(size * size * 3);
    for (let p = 0; p < pixels.length; p += 4) {
      const word = next();
      for (let b = 0; b < 4 && p + b < pixels.length; b++) pixels[p + b] = (word >>> (8 * b)) & 0xff;
    }
    return { image: { pixels, width: size, height: size, channels: 3 as const }, label: `class-${Math.floor(i / (2 * ITEMS_PER_CLASS))}` };
  });
}

async function main(config: WorkerConfig): Promise<void> {
  const rank = Number(process.env.RANK ?? 0);
  const world = Number(process.env.WORLD_SIZE ?? 1);
  // Every rank gets the whole data set and reads its shard of each epoch's batches: one epoch of
  // `steps` steps at `batch` per rank takes steps x batch x world images.
  const records: StepRecord[] = [];
  const options: DistributedFitOptions = {
    model: config.modelDir,
    trainData: syntheticImages(config.steps * config.batch * world, config.imageSize, 1234),
    loss: 'TripletMarginLoss',
    margin: LOSS_OPTIONS.margin,
    miner: 'batch-hard',
    optimizer: TRAINING.optimizer,
    learningRate: TRAINING.learningRate,
    batchSize: config.batch,
    numItemsPerClass: ITEMS_PER_CLASS,
    epochs: 1,
    imageSize: config.imageSize,
    device: 'cpu',
    seed: 0,
    onProgress(event) {
      if (event.phase !== 'train') return;
      const step = event as TrainEvent;
      records.push({
        at: performance.now(),
        ...(step.allReduceSeconds !== undefined ? { allReduceSeconds: step.allReduceSeconds } : {}),
        ...(step.communicationSeconds !== undefined ? { communicationSeconds: step.communicationSeconds } : {}),
      });
    },
    ...(config.distributed ? { distributed: true } : {}),
  };
  const result = await fit(options as FitOptions);
  result.model.dispose();
  writeFileSync(join(config.out, `rank-${rank}.json`), JSON.stringify({ rank, world, records }));
}

await main(JSON.parse(process.argv[2] ?? '{}') as WorkerConfig);

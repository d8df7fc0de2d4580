// resnet50 at batch 16, 224x224, on the CPU: batch-hard triplet training steps/s and encode images/s of
// the addon against the same model in PyTorch eager (scripts/bench/torch_eager.py).

import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { NativeTrainOptions } from '../lib/binding.js';
import type { ImageBatch } from '../lib/data/images.js';
import { exportModel } from '../lib/export.js';
import { readMetadata } from '../lib/metadata.js';
import { loadModel } from '../lib/loadModel.js';
import { PythonPeer } from './pythonPeer.js';
import { pythonCpu, seconds, type ModelBenchSettings, type PreparedBench } from './shared.js';
import { cpuNow, cpuSince, type Comparison } from './sideBySide.js';

export const RESNET_MODEL = 'resnet50';
export const RESNET_BATCH = 16;
const ITEMS_PER_CLASS = 4;
export const IMAGE_SIZE = 224;
export const TRAINING: NativeTrainOptions = {
  optimizer: 'adam',
  learningRate: 1e-4,
  weightDecay: 0,
  momentum: 0.9,
  freeze: 'none',
};
/** TripletMarginLoss's options: the original finetuner's batch-hard triplet loss, which the Python peer computes too. */
export const LOSS_OPTIONS = { margin: 0.2, miner: 'batch-hard' };

/** Defaults of this model's bench: a training step takes 3-8 s on 2 cores. */
export const RESNET_DEFAULTS = {
  rounds: (quick: boolean) => (quick ? 2 : 5),
  trainSteps: (quick: boolean) => (quick ? 1 : 2),
  encodeReps: (quick: boolean) => (quick ? 1 : 2),
};

/** The exported backbone (random init, full size), once per cache directory. */
export async function exportedModel(cache: string, log: (message: string) => void): Promise<string> {
  const dir = join(cache, `${RESNET_MODEL}-full-random`);
  if (existsSync(join(dir, 'finetuner.json'))) {
    try {
      await readMetadata(dir);
      return dir;
    } catch {
      // stale or partial: export again
    }
  }
  log(`exporting ${RESNET_MODEL} (random init) to ${dir}`);
  await exportModel(RESNET_MODEL, { outDir: dir, randomInit: true });
  return dir;
}

/** A fixed batch of random pixels (seeded, so every run and both sides see the same images). */
export function randomBatch(seed: number): ImageBatch {
  const pixels = new Uint8Array(RESNET_BATCH * IMAGE_SIZE * IMAGE_SIZE * 3);
  let state = seed >>> 0;
  for (let i = 0; i < pixels.length; i++) {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    pixels[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return { pixels, rows: RESNET_BATCH, height: IMAGE_SIZE, width: IMAGE_SIZE };
}

export function labels(): Int32Array {
  const result = new Int32Array(RESNET_BATCH);
  for (let i = 0; i < RESNET_BATCH; i++) result[i] = Math.floor(i / ITEMS_PER_CLASS);
  return result;
}

export async function prepareResnetBench(s: ModelBenchSettings & { rounds: number }): Promise<PreparedBench> {
  const modelDir = await exportedModel(s.cache, s.log);
  const batch = randomBatch(1234);
  const batchLabels = labels();
  const pixelsFile = join(s.cache, `pixels-${RESNET_BATCH}x${IMAGE_SIZE}.bin`);
  await writeFile(pixelsFile, batch.pixels);

  s.log(`starting the python worker for ${RESNET_MODEL} (${s.threads} threads)`);
  const peer = await PythonPeer.start({
    script: 'torch_eager.py',
    args: [
      '--model', RESNET_MODEL,
      '--threads', String(s.threads),
      '--batch', String(RESNET_BATCH),
      '--size', String(IMAGE_SIZE),
      '--items-per-class', String(ITEMS_PER_CLASS),
      '--pixels', pixelsFile,
      '--lr', String(TRAINING.learningRate),
      '--margin', String(LOSS_OPTIONS.margin),
    ],
  });
  const killPeer = () => peer.kill();
  process.once('exit', killPeer);
  if (peer.info.threads !== s.threads) {
    s.log(`warning: the python worker reports torch.get_num_threads() = ${String(peer.info.threads)}, not ${s.threads}`);
  }

  s.log(`loading ${modelDir} in the addon (${s.threads} threads)`);
  let loaded: Awaited<ReturnType<typeof loadModel>> | undefined;
  try {
    loaded = await loadModel(modelDir, { device: 'cpu' });
    loaded.nativeModel.configureTraining(TRAINING);
  } catch (error) {
    loaded?.dispose();
    await peer.close();
    process.off('exit', killPeer);
    throw error;
  }
  const model = loaded;
  const native = model.nativeModel;
  const { trainSteps, encodeReps, quick } = s;

  const encode: Comparison = {
    id: `${RESNET_MODEL}-encode`,
    title: `${RESNET_MODEL} encode (batch ${RESNET_BATCH})`,
    unit: 'images/s',
    a: {
      label: 'addon',
      // The first encode freezes and optimises the module; TorchScript then profiles before optimising.
      warmUp: Math.max(1, Math.ceil((quick ? 2 : 3) / encodeReps)),
      async measure() {
        const before = cpuNow();
        const t0 = performance.now();
        for (let i = 0; i < encodeReps; i++) await model.encodeBatch(batch);
        return { seconds: (performance.now() - t0) / 1000, units: encodeReps * RESNET_BATCH, cpu: cpuSince(before) };
      },
    },
    b: {
      label: 'python',
      warmUp: 1,
      async measure() {
        const response = await peer.request({ cmd: 'encode', reps: encodeReps });
        return { seconds: seconds(response), units: encodeReps * RESNET_BATCH, cpu: pythonCpu(response) };
      },
    },
  };
  const train: Comparison = {
    id: `${RESNET_MODEL}-train`,
    title: `${RESNET_MODEL} train (batch ${RESNET_BATCH})`,
    unit: 'steps/s',
    a: {
      label: 'addon',
      // TorchScript's profiling executor profiles, then optimises: the first 2-3 runs are slow.
      warmUp: Math.max(1, Math.ceil((quick ? 2 : 3) / trainSteps)),
      async measure() {
        const before = cpuNow();
        const t0 = performance.now();
        for (let i = 0; i < trainSteps; i++) await native.trainStep([batch], batchLabels, 'TripletMarginLoss', LOSS_OPTIONS);
        return { seconds: (performance.now() - t0) / 1000, units: trainSteps, cpu: cpuSince(before) };
      },
    },
    b: {
      label: 'python',
      warmUp: 1,
      async measure() {
        const response = await peer.request({ cmd: 'train', steps: trainSteps });
        return { seconds: seconds(response), units: trainSteps, cpu: pythonCpu(response) };
      },
    },
  };

  const phases: PreparedBench['phases'] = [];
  if (s.kinds.has('encode')) phases.push({ comparisons: [encode], rounds: s.rounds });
  if (s.kinds.has('train')) phases.push({ comparisons: [train], rounds: s.rounds });
  return {
    phases,
    settings: {
      model: `${RESNET_MODEL} (random init)`,
      batch: RESNET_BATCH,
      image: `${IMAGE_SIZE}x${IMAGE_SIZE}`,
      rounds: s.rounds,
      trainStepsPerRound: trainSteps,
      encodeRepsPerRound: encodeReps,
      training: 'adam lr 1e-4, batch-hard triplet margin 0.2',
    },
    python: peer.info,
    async close() {
      model.dispose();
      await peer.close();
      process.off('exit', killPeer);
    },
  };
}

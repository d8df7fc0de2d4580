// Distributed fine-tuning (issue 14) on the CPU, Gloo over 127.0.0.1: worker processes run fit() with
// distributed: true (test/helpers/distributedChild.mjs) and the torchrun variables set here, no launcher.
// Equivalence: 2 ranks at batch B reach the weights of 1 process at batch 2B (every loss sees the
// global batch; gradients are averaged). Models without batch-dependent layers in training: tiny
// ResNet-50 and BERT with the trunk frozen (kept in eval: no BatchNorm statistics, no dropout) and a
// projection head, and a tiny ViT CLIP trained whole (LayerNorm only) with its learned temperature.
// Plus: environment errors, a bad MASTER_ADDR, a killed worker, resuming on another world size.
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeClipTokenizer } from '../examples/tokenizers/clipBpe.js';
import { writeBertTokenizer } from '../examples/tokenizers/wordpiece.js';
import { readDistributedEnvironment } from '../lib/index.js';
import { rankSlice, shardTask } from '../lib/distributed/dataParallel.js';
import { resolveDistributed } from '../lib/distributed/processGroup.js';
import { exportTiny, PYTHON, REPO_ROOT, tempDir } from './helpers/fixtures.js';

const CHILD = join(REPO_ROOT, 'test', 'helpers', 'distributedChild.mjs');
const TEXTS = Array.from({ length: 40 }, (_, i) => `item ${['red', 'blue', 'green', 'small', 'large', 'old', 'new', 'dark'][i % 8]} thing number ${i} of the ${['sea', 'hill', 'town', 'wood', 'lake'][i % 5]}`);
const work = tempDir('distributed');
afterAll(() => work.cleanup());

const backbones: Record<'triplet' | 'mnrl' | 'clip', string> = { triplet: '', mnrl: '', clip: '' };

beforeAll(async () => {
  backbones.triplet = exportTiny('resnet50', join(work.dir, 'resnet50'));
  const bertTokenizer = join(work.dir, 'bert-tokenizer.json');
  await writeBertTokenizer(bertTokenizer, TEXTS, { vocabSize: 300, lowercase: true });
  backbones.mnrl = join(work.dir, 'bert');
  execFileSync(PYTHON, [join(REPO_ROOT, 'scripts', 'export_torchscript'), 'bert-base-cased', '--out', backbones.mnrl, '--size', 'tiny', '--random-init', '--tokenizer', bertTokenizer], { stdio: ['ignore', 'ignore', 'pipe'] });
  const clipTokenizer = join(work.dir, 'clip-tokenizer.json');
  await writeClipTokenizer(clipTokenizer, TEXTS, { vocabSize: 600 });
  backbones.clip = join(work.dir, 'clip');
  execFileSync(PYTHON, [join(REPO_ROOT, 'scripts', 'export_torchscript'), 'ViT-B-16::openai', '--out', backbones.clip, '--size', 'tiny', '--random-init', '--tokenizer', clipTokenizer], { stdio: ['ignore', 'ignore', 'pipe'] });
});

/** A TCP port nobody listens on now. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

interface ChildResult {
  ok: boolean;
  rank: number;
  message?: string;
  name?: string;
  checkpoint?: string | null;
  losses: number[];
  history?: Array<{ loss: number; steps: number }>;
  embeddings?: number[];
  initialEmbeddings?: number[];
  communicationSeconds?: number;
  allReduceSeconds?: number;
  steps?: number;
  report?: string | null;
  seconds: number;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Worker {
  child: ReturnType<typeof spawn>;
  done: Promise<ChildResult>;
}

function startWorker(job: object, env: Record<string, string> = {}): Worker {
  const child = spawn(process.execPath, [CHILD, JSON.stringify(job)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, OMP_NUM_THREADS: '1', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const done = new Promise<ChildResult>((resolve) => {
    child.on('close', (code, signal) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      let parsed: Partial<ChildResult> = { ok: false, message: `no result (exit ${code}, signal ${signal})`, losses: [], seconds: 0 };
      try {
        parsed = JSON.parse(last);
      } catch {
        // killed or crashed before printing: the fields above say so
      }
      resolve({ ...(parsed as ChildResult), stderr, code, signal });
    });
  });
  return { child, done };
}

const rankEnv = (rank: number, worldSize: number, port: number, addr = '127.0.0.1') => ({
  RANK: String(rank), WORLD_SIZE: String(worldSize), LOCAL_RANK: String(rank), MASTER_ADDR: addr, MASTER_PORT: String(port),
});

/** `worldSize` workers of one distributed run. */
async function startRun(job: object, worldSize: number, timeout = 30): Promise<Worker[]> {
  const port = await freePort();
  return Array.from({ length: worldSize }, (_, rank) => startWorker({ ...job, distributed: { joinTimeout: 30, timeout } }, rankEnv(rank, worldSize, port)));
}

const maxDiff = (a: number[], b: number[]) => a.reduce((most, value, i) => Math.max(most, Math.abs(value - b[i]!)), 0);

/** max |a - b| over the parameters of two saved models (model.pt), read by PyTorch. */
function weightDiff(a: string, b: string): number {
  const script = [
    'import sys, torch',
    'x = torch.jit.load(sys.argv[1]).state_dict(); y = torch.jit.load(sys.argv[2]).state_dict()',
    'assert x.keys() == y.keys()',
    'print(max((x[k].double() - y[k].double()).abs().max().item() for k in x if x[k].numel()))',
  ].join('\n');
  return Number(execFileSync(PYTHON, ['-c', script, join(a, 'model.pt'), join(b, 'model.pt')], { encoding: 'utf8' }).trim());
}

describe('readDistributedEnvironment', () => {
  const good = { RANK: '1', WORLD_SIZE: '2', LOCAL_RANK: '1', MASTER_ADDR: '10.0.0.5', MASTER_PORT: '29500' };
  it("reads torchrun's variables", () => {
    expect(readDistributedEnvironment(good)).toEqual({ rank: 1, worldSize: 2, localRank: 1, masterAddr: '10.0.0.5', masterPort: 29500 });
  });
  it('names a missing or malformed variable', () => {
    for (const name of Object.keys(good)) {
      const env: Record<string, string> = { ...good };
      delete env[name];
      expect(() => readDistributedEnvironment(env)).toThrow(new RegExp(`${name} is not set`));
    }
    expect(() => readDistributedEnvironment({ ...good, RANK: '2' })).toThrow(/RANK \(2\) must be less than WORLD_SIZE \(2\)/);
    expect(() => readDistributedEnvironment({ ...good, WORLD_SIZE: '0' })).toThrow(/WORLD_SIZE must be an integer in 1\.\./);
    expect(() => readDistributedEnvironment({ ...good, RANK: '-1' })).toThrow(/RANK must be an integer/);
    expect(() => readDistributedEnvironment({ ...good, MASTER_PORT: '70000' })).toThrow(/MASTER_PORT must be an integer in 1\.\.65535/);
    expect(() => readDistributedEnvironment({ ...good, MASTER_PORT: '29500x' })).toThrow(/MASTER_PORT must be an integer/);
    expect(() => readDistributedEnvironment({ ...good, LOCAL_RANK: '1.5' })).toThrow(/LOCAL_RANK must be an integer/);
  });
  it('checks the distributed option and slices batches by rank', () => {
    expect(resolveDistributed(undefined)).toBeUndefined();
    expect(resolveDistributed(true)).toEqual({ joinTimeout: 60, timeout: 1800 });
    expect(() => resolveDistributed({ timeout: -1 })).toThrow(/distributed.timeout' must be a positive number of seconds/);
    expect(() => resolveDistributed({ joinTimeuot: 5 })).toThrow(/distributed.joinTimeuot' is unknown/);
    expect(() => resolveDistributed('yes')).toThrow(/must be true, false or/);
    // Contiguous, covering, in rank order, as the gathered batch is concatenated.
    const slices = [0, 1, 2].map((rank) => rankSlice(10, rank, 3));
    expect(slices).toEqual([{ start: 0, end: 3 }, { start: 3, end: 6 }, { start: 6, end: 10 }]);
  });
  it("gives each rank its slice of every global batch, skipping batches too small for every rank to have a row", async () => {
    const prepared: number[][] = [];
    const task = {
      batchesPerEpoch: 3,
      batches: (epoch: number) => [[9, 8, 7, 6, 5], [4, 3], [epoch, 1, 2]],
      prepare: async (indices: number[]) => (prepared.push(indices), { inputs: [], targets: new Int32Array(indices), truncated: 0 }),
    };
    const rank2 = shardTask(task, 2, 3);
    expect(rank2.batchesPerEpoch).toBe(2);
    expect(rank2.batches(4)).toEqual([[9, 8, 7, 6, 5], [4, 1, 2]]);
    await rank2.prepare([9, 8, 7, 6, 5]);
    await shardTask(task, 0, 3).prepare([9, 8, 7, 6, 5]);
    expect(prepared).toEqual([[6, 5], [9]]); // rows [3, 5) and [0, 1) of 5
    expect(shardTask(task, 0, 1)).toBe(task);
    expect(() => shardTask(task, 0, 6)).toThrow(/no batch has a row for each of the 6 ranks/);
  });
});

describe('data parallel equals one process with the global batch', () => {
  for (const kind of ['triplet', 'mnrl', 'clip'] as const) {
    it(`${kind}: 2 ranks x B reach the weights of 1 process x 2B`, async () => {
      const B = kind === 'triplet' ? 8 : 4;
      const epochs = 2;
      // MNRL: 19 pairs make a last global batch of 3, split 1 and 2 (the gather pads uneven slices), and
      // gradients accumulate over 2 batches (the all-reduce comes at the update).
      const rows = kind === 'mnrl' ? 19 : undefined;
      const accumulateSteps = kind === 'mnrl' ? 2 : undefined;
      const single = join(work.dir, `${kind}-single`);
      const pair = join(work.dir, `${kind}-pair`);
      const one = startWorker({ kind, backbone: backbones[kind], batchSize: 2 * B, epochs, rows, accumulateSteps, outputDir: single, probeInitial: true });
      const two = await startRun({ kind, backbone: backbones[kind], batchSize: B, epochs, rows, accumulateSteps, outputDir: pair }, 2);
      const [a, r0, r1] = await Promise.all([one.done, ...two.map((w) => w.done)]);
      for (const result of [a, r0, r1]) expect(result.ok, `${result.message}\n${result.stderr}`).toBe(true);
      const steps = a.losses.length;
      expect(steps).toBeGreaterThanOrEqual(4);
      expect(r0!.losses.length).toBe(steps);
      // The loss of every step is the global batch's, on both ranks.
      expect(maxDiff(r0!.losses, a!.losses)).toBeLessThan(1e-5);
      expect(maxDiff(r1!.losses, a!.losses)).toBeLessThan(1e-5);
      const weights = weightDiff(single, pair);
      console.log(`${kind}: ${steps} steps, max weight difference ${weights.toExponential(2)}, rank 0 ${r0!.seconds.toFixed(1)} s ` +
        `(communication ${r0!.communicationSeconds!.toFixed(3)} s, all-reduce ${r0!.allReduceSeconds!.toFixed(3)} s), one process ${a!.seconds.toFixed(1)} s`);
      expect(weights).toBeLessThan(1e-5);
      // Rank 1 holds the same weights as rank 0 (lockstep), and did not write anything.
      expect(maxDiff(r1!.embeddings!, r0!.embeddings!)).toBeLessThan(1e-6);
      expect(maxDiff(r0!.embeddings!, a!.embeddings!)).toBeLessThan(1e-5);
      // Training moved the model far beyond that tolerance.
      expect(maxDiff(a!.embeddings!, a!.initialEmbeddings!)).toBeGreaterThan(1e-3);
      expect(r0!.report).toMatch(/report\.html$/);
      expect(r1!.report).toBeNull();
      expect(r0!.allReduceSeconds).toBeGreaterThan(0);
      expect(a!.communicationSeconds).toBe(0);
    });
  }
});

describe('finetuner fit --distributed', () => {
  const cli = (args: string[], env: Record<string, string | undefined>) =>
    new Promise<{ code: number | null; stderr: string }>((done) => {
      const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'cli', 'main.js'), 'fit', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
      let stderr = '';
      child.stderr!.on('data', (chunk) => (stderr += chunk));
      child.on('close', (code) => done({ code, stderr }));
    });
  it('reads the environment (and names what is missing), and checks --distributed-timeout', async () => {
    const csv = join(work.dir, 'cli.csv');
    writeFileSync(csv, 'image,label\na.png,x\n');
    const base = ['--model', backbones.triplet, '--train-data', csv, '--output-dir', join(work.dir, 'cli-out')];
    const unset = { RANK: undefined, WORLD_SIZE: undefined, LOCAL_RANK: undefined, MASTER_ADDR: undefined, MASTER_PORT: undefined };
    const missing = await cli([...base, '--distributed'], unset);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/environment variable RANK is not set/);
    const alone = await cli([...base, '--distributed-timeout', '5'], unset);
    expect(alone.stderr).toMatch(/--distributed-timeout needs --distributed/);
    const bad = await cli([...base, '--distributed', '--distributed-timeout=0'], unset);
    expect(bad.stderr).toMatch(/--distributed-timeout must be a positive number of seconds/);
  });
});

describe('faults', () => {
  it('a MASTER_ADDR nobody answers at fails joining with a clear error, in bounded time', async () => {
    const port = await freePort();
    // Rank 1 of 2 looks for a master at a port where nothing listens.
    const worker = startWorker({ kind: 'triplet', backbone: backbones.triplet, batchSize: 8, epochs: 1, distributed: { joinTimeout: 3 } }, rankEnv(1, 2, port));
    const result = await worker.done;
    expect(result.ok).toBe(false);
    expect(result.message).toMatch(/distributed join failed on rank 1 of 2: cannot reach the rendezvous store at 127\.0\.0\.1:\d+ \(MASTER_ADDR:MASTER_PORT\) within 3 s/);
    expect(result.seconds).toBeLessThan(15);
    // An address that does not resolve.
    const unresolved = await startWorker({ kind: 'triplet', backbone: backbones.triplet, batchSize: 8, epochs: 1, distributed: { joinTimeout: 3 } },
      rankEnv(1, 2, port, 'no-such-host.invalid')).done;
    expect(unresolved.ok).toBe(false);
    expect(unresolved.message).toMatch(/cannot reach the rendezvous store at no-such-host\.invalid/);
    expect(unresolved.seconds).toBeLessThan(15);
    // Missing variables fail before anything loads.
    const missing = await startWorker({ kind: 'triplet', backbone: backbones.triplet, batchSize: 8, epochs: 1, distributed: true }, { RANK: '0' }).done;
    expect(missing.message).toMatch(/environment variable WORLD_SIZE is not set/);
  });

  for (const killed of [1, 0]) {
    it(`rank ${killed} killed mid-run makes the other reject naming its rank and the operation, in bounded time`, async () => {
      const workers = await startRun({ kind: 'triplet', backbone: backbones.triplet, batchSize: 8, epochs: 500, stepDelayMs: 50, announceSteps: true }, 2);
      const victim = workers[killed]!;
      // Once the victim has trained a step (it says so on stdout), kill it.
      await new Promise((done) => victim.child.stdout!.once('data', done));
      await new Promise((done) => setTimeout(done, 300));
      const killedAt = performance.now();
      victim.child.kill('SIGKILL');
      const survivor = await workers[1 - killed]!.done;
      const waited = (performance.now() - killedAt) / 1000;
      expect(survivor.ok).toBe(false);
      expect(survivor.message).toMatch(new RegExp(`distributed .+ failed on rank ${1 - killed} of 2: .*a worker may have died`));
      expect(survivor.code).toBe(0); // rejected, not crashed
      expect(waited).toBeLessThan(30);
      console.log(`rank ${killed} killed: rank ${1 - killed} rejected ${waited.toFixed(1)} s later: ${survivor.message}`);
    });
  }

  it('a worker that stops answering (SIGSTOP) makes the other reject after the operation timeout', async () => {
    const workers = await startRun({ kind: 'triplet', backbone: backbones.triplet, batchSize: 8, epochs: 500, stepDelayMs: 50, announceSteps: true }, 2, 3);
    const [rank0, rank1] = workers;
    await new Promise((done) => rank1!.child.stdout!.once('data', done));
    const stoppedAt = performance.now();
    rank1!.child.kill('SIGSTOP');
    try {
      const survivor = await rank0!.done;
      const waited = (performance.now() - stoppedAt) / 1000;
      expect(survivor.ok).toBe(false);
      expect(survivor.message).toMatch(/distributed .+ failed on rank 0 of 2: .*operations time out after 3 s/);
      expect(waited).toBeGreaterThan(2);
      expect(waited).toBeLessThan(20);
      console.log(`hung worker: rank 0 rejected ${waited.toFixed(1)} s later: ${survivor.message}`);
    } finally {
      rank1!.child.kill('SIGKILL');
      await rank1!.done;
    }
  });
});

describe('lockstep', () => {
  it("a callback's stop on rank 0 stops every rank at the same step", async () => {
    const run = await startRun({ kind: 'mnrl', backbone: backbones.mnrl, batchSize: 4, epochs: 3, stopCallbackAt: 3 }, 2);
    const [r0, r1] = await Promise.all(run.map((w) => w.done));
    expect(r0!.ok, r0!.message).toBe(true);
    expect(r1!.ok, r1!.message).toBe(true);
    expect(r0!.steps).toBe(3);
    expect(r1!.steps).toBe(3);
    expect(maxDiff(r1!.embeddings!, r0!.embeddings!)).toBeLessThan(1e-6);
  });
});

describe('checkpoints', () => {
  it("a run resumes from rank 0's checkpoint on another world size", async () => {
    const checkpoints = join(work.dir, 'resume-checkpoints');
    // 2 ranks of 8 stop (signal) after 3 steps; rank 0 writes the checkpoint.
    const stopped = await startRun({ kind: 'triplet', backbone: backbones.triplet, batchSize: 8, epochs: 2, checkpointDir: checkpoints, stopAfterSteps: 3 }, 2);
    const [s0, s1] = await Promise.all(stopped.map((w) => w.done));
    expect(s0!.name, s0!.message).toBe('TrainingInterruptedError');
    expect(s1!.name, s1!.message).toBe('TrainingInterruptedError');
    expect(s0!.checkpoint).toBeTruthy();
    expect(s1!.message).toBe('training interrupted on rank 1 of 2; rank 0 writes the checkpoint to resume from');
    expect(readdirSync(checkpoints).length).toBeGreaterThan(0);
    // One process of 16 (the same global batch) continues it, and ends where an uninterrupted one does.
    const resumedDir = join(work.dir, 'resumed');
    const straightDir = join(work.dir, 'straight');
    const [resumed, straight] = await Promise.all([
      startWorker({ kind: 'triplet', backbone: backbones.triplet, batchSize: 16, epochs: 2, resumeFrom: checkpoints, outputDir: resumedDir }).done,
      startWorker({ kind: 'triplet', backbone: backbones.triplet, batchSize: 16, epochs: 2, outputDir: straightDir }).done,
    ]);
    expect(resumed.ok, `${resumed.message}\n${resumed.stderr}`).toBe(true);
    expect(straight.ok, straight.message).toBe(true);
    expect(weightDiff(resumedDir, straightDir)).toBeLessThan(1e-5);
    // A world size that does not divide the recorded global batch is another run.
    const wrong = await startWorker({ kind: 'triplet', backbone: backbones.triplet, batchSize: 8, epochs: 2, resumeFrom: checkpoints }).done;
    expect(wrong.ok).toBe(false);
    expect(wrong.message).toMatch(/batchSize/);
  });
});

// Checkpoint and resume (lib/checkpoints.ts, native training_state.cc): a fit() child process is killed
// with SIGKILL at a random point after a checkpoint was written, or while one is being written, and a
// new process resumes it; the result must be bit-identical (model.pt tensors and embeddings) to an
// uninterrupted run. Also: Ctrl-C during `finetuner fit` writes a checkpoint, exits 130 and says how to
// resume, and that command finishes the run.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { loadModel } from '../lib/index.js';
import { exportTiny, random, REPO_ROOT, syntheticImages, tempDir } from './helpers/fixtures.js';

const CHILD = join(REPO_ROOT, 'test', 'helpers', 'trainChild.mjs');
const work = tempDir('checkpoints');
let backbone: string;
let reference: string;
const EPOCHS = 3;

interface Run {
  child: ReturnType<typeof spawn>;
  exit: Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function startChild(job: Record<string, unknown>): Run {
  const child = spawn(process.execPath, [CHILD, JSON.stringify({ backbone, epochs: EPOCHS, checkpointEvery: 2, ...job })], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, OMP_NUM_THREADS: '1' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const exit = new Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((done) =>
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      done({ status, signal, stdout, stderr });
    }),
  );
  return { child, exit };
}

async function runToEnd(job: Record<string, unknown>) {
  const result = await startChild(job).exit;
  expect({ status: result.status, stderr: result.status === 0 ? '' : result.stderr.slice(-2000) }).toEqual({ status: 0, stderr: '' });
  return JSON.parse(result.stdout.trim().split('\n').pop()!);
}

/** The tensor payloads of a model.pt (a stored zip), by entry name. */
function tensorData(file: string): Map<string, Buffer> {
  const bytes = readFileSync(file);
  const end = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  let cursor = bytes.readUInt32LE(end + 16);
  const entries = new Map<string, Buffer>();
  for (let i = bytes.readUInt16LE(end + 10); i > 0; i--) {
    const size = bytes.readUInt32LE(cursor + 20);
    const nameLength = bytes.readUInt16LE(cursor + 28);
    const local = bytes.readUInt32LE(cursor + 42);
    const name = bytes.toString('utf8', cursor + 46, cursor + 46 + nameLength);
    const offset = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
    if (name.includes('/data/')) entries.set(name.replace(/^[^/]*\//, ''), bytes.subarray(offset, offset + size));
    cursor += 46 + nameLength + bytes.readUInt16LE(cursor + 30) + bytes.readUInt16LE(cursor + 32);
  }
  return entries;
}

async function embeddings(dir: string): Promise<Buffer> {
  const model = await loadModel(dir, { precision: 'fp32' });
  try {
    return Buffer.from((await model.encodeBatch(await model.loadImages(syntheticImages(3, 2, 32, 5).map((item) => item.image)))).buffer);
  } finally {
    model.dispose();
  }
}

async function expectSameModel(dir: string): Promise<void> {
  const got = tensorData(join(dir, 'model.pt'));
  const want = tensorData(join(reference, 'model.pt'));
  expect(got.size).toBe(want.size);
  expect(got.size).toBeGreaterThan(10);
  for (const [name, data] of want) expect(got.get(name)?.equals(data), name).toBe(true);
  expect((await embeddings(dir)).equals(await embeddings(reference))).toBe(true);
}

const steps = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => /^step-\d+$/.test(n)) : []);

beforeAll(async () => {
  backbone = exportTiny('resnet50', join(work.dir, 'resnet50-tiny'));
  reference = join(work.dir, 'reference');
  const started = performance.now();
  await runToEnd({ outputDir: reference, checkpointDir: join(work.dir, 'reference.ckpt') });
  console.log(`uninterrupted run: ${((performance.now() - started) / 1000).toFixed(1)} s`);
});
afterAll(() => work.cleanup());

describe('resume after kill -9', () => {
  it('reaches bit-identical weights from a checkpoint, wherever the kill lands', async () => {
    const seed = Number(process.env.FINETUNER_KILL_SEED ?? Date.now() % 100_000);
    const rand = random(seed);
    const kills: string[] = [];
    // Two kill points per run of the suite (FINETUNER_KILL_ATTEMPTS for more), at random times.
    for (let attempt = 0; attempt < Number(process.env.FINETUNER_KILL_ATTEMPTS ?? 2); attempt++) {
      const outputDir = join(work.dir, `killed-${attempt}`);
      const checkpointDir = `${outputDir}.ckpt`;
      const run = startChild({ outputDir, checkpointDir, stepDelayMs: 40 });
      while (steps(checkpointDir).length === 0) await new Promise((r) => setTimeout(r, 5));
      const delay = Math.floor(rand() * 700);
      await new Promise((r) => setTimeout(r, delay));
      run.child.kill('SIGKILL');
      const killed = await run.exit;
      expect(killed.signal).toBe('SIGKILL');
      kills.push(`${delay} ms after the first checkpoint: had ${steps(checkpointDir).sort().join(', ')}`);
      const started = performance.now();
      await runToEnd({ outputDir, checkpointDir, resumeFrom: checkpointDir });
      kills[attempt] += `; resumed in ${((performance.now() - started) / 1000).toFixed(1)} s`;
      await expectSameModel(outputDir);
    }
    console.log(`kill points (FINETUNER_KILL_SEED=${seed}):\n  ${kills.join('\n  ')}`);
  }, 300_000);

  it('a kill while a checkpoint is written leaves the previous one usable, and its litter is removed', async () => {
    const outputDir = join(work.dir, 'torn');
    const checkpointDir = `${outputDir}.ckpt`;
    mkdirSync(checkpointDir, { recursive: true });
    const run = startChild({ outputDir, checkpointDir, checkpointEvery: 1 });
    let staging = '';
    await new Promise<void>((done) => {
      const watcher = watch(checkpointDir, (_event, name) => {
        // A later checkpoint's staging folder, just created: kill while it is being filled.
        const step = name && /^\.(step-\d+)\.finetuner-staging-/.exec(name)?.[1];
        const published = steps(checkpointDir);
        if (step && published.length > 0 && !published.includes(step) && !staging) {
          staging = name;
          run.child.kill('SIGKILL');
          watcher.close();
          done();
        }
      });
    });
    expect((await run.exit).signal).toBe('SIGKILL');
    const step = /^\.(step-\d+)\./.exec(staging)![1]!;
    const torn = !steps(checkpointDir).includes(step);
    expect(torn).toBe(true);
    console.log(`killed while writing ${step}: ${torn ? 'torn (not published)' : 'already published'}; left ${readdirSync(checkpointDir).join(', ')}`);
    await runToEnd({ outputDir, checkpointDir, resumeFrom: checkpointDir, checkpointEvery: 1 });
    expect(readdirSync(checkpointDir).filter((n) => n.startsWith('.'))).toEqual([]);
    await expectSameModel(outputDir);
  }, 120_000);
});

describe('finetuner fit interrupted', () => {
  it('Ctrl-C writes a checkpoint, exits 130 with the resume command, and that command finishes the run', async () => {
    const dir = join(work.dir, 'cli');
    mkdirSync(dir, { recursive: true });
    const rows = ['image,label'];
    for (const [i, item] of syntheticImages(4, 8, 32, 9).entries()) {
      const { pixels, width, height } = item.image as { pixels: Uint8Array; width: number; height: number };
      await sharp(Buffer.from(pixels), { raw: { width, height, channels: 3 } }).png().toFile(join(dir, `${i}.png`));
      rows.push(`${i}.png,${item.label}`);
    }
    writeFileSync(join(dir, 'train.csv'), `${rows.join('\n')}\n`);
    const cli = join(REPO_ROOT, 'dist', 'cli', 'main.js');
    const args = ['fit', '--model', backbone, '--train-data', join(dir, 'train.csv'), '--output-dir', join(dir, 'out'), '--epochs', '6',
      '--batch-size', '8', '--output-dim', '8', '--image-size', '32', '--checkpoint-every', '1', '--keep-checkpoints', '2'];
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: '1' } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exit = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    while (steps(join(dir, 'out.checkpoints')).length === 0) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGINT');
    expect(await exit, stderr).toBe(130);
    const command = /resume with:\n\s+(.+)/.exec(stderr)?.[1];
    expect(command, stderr).toMatch(/--resume \S+out\.checkpoints\/step-\d+$/);
    expect(existsSync(join(dir, 'out'))).toBe(false);
    const resumeArgs = command!.split(' ').slice(1).map((a) => a.replace(/^'|'$/g, ''));
    const resumed = spawn(process.execPath, [cli, ...resumeArgs], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: '1' } });
    let resumedErr = '';
    resumed.stderr.on('data', (d) => (resumedErr += d));
    expect(await new Promise((done) => resumed.on('exit', done)), resumedErr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'out', 'finetuner.json'), 'utf8')).training.history).toHaveLength(6);
  }, 180_000);
});

// Issue 10's fuzz test: thousands of randomised malformed calls to the raw binding and the public API
// (test/helpers/fuzzChild.mjs), in a child process under a time limit, with a fixed seed. Zero crashes,
// zero hangs, and every failure an Error with a message (no C++ backtrace). FINETUNER_FUZZ_CALLS and
// FINETUNER_FUZZ_SEED change the run.
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportTiny, PYTHON, REPO_ROOT, tempDir } from './helpers/fixtures.js';

const CALLS = Number(process.env.FINETUNER_FUZZ_CALLS ?? 3000);
const SEED = Number(process.env.FINETUNER_FUZZ_SEED ?? 20240610);
const TIME_LIMIT_MS = 240_000;

const work = tempDir('fuzz');
let imageDir: string;
let textDir: string;

beforeAll(() => {
  imageDir = exportTiny('resnet50', join(work.dir, 'resnet50'));
  textDir = join(work.dir, 'bert');
  execFileSync(PYTHON, [join(REPO_ROOT, 'scripts', 'export_torchscript'), 'bert-base-cased', '--out', textDir, '--size', 'tiny', '--random-init'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
});
afterAll(() => work.cleanup());

describe('fuzz: malformed calls to the binding and the public API', () => {
  it(`${CALLS} calls, seed ${SEED}: no crash, no hang, only useful errors`, async () => {
    const child = spawn(process.execPath, ['--expose-gc', join(REPO_ROOT, 'test', 'helpers', 'fuzzChild.mjs'), String(SEED), String(CALLS), imageDir, textDir, join(work.dir, 'run')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), TIME_LIMIT_MS);
    const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) => child.on('close', (code, sig) => done([code, sig])));
    clearTimeout(timer);
    expect({ status, signal, stderr: status === 0 ? '' : stderr.slice(-3000) }).toEqual({ status: 0, signal: null, stderr: '' });
    const counts = JSON.parse(stdout.trim().split('\n').pop()!);
    console.log(`fuzz: ${counts.calls} calls in ${counts.seconds} s: ${counts.resolved} resolved, ${counts.rejected} rejected, ` +
      `${counts.thrown} thrown, ${counts.hangs} hangs`);
    expect(counts.calls).toBe(CALLS);
    expect(counts.hangs).toBe(0);
    expect(counts.badErrors).toEqual([]);
    // The calls reach the native code, not just the argument checks: every target both fails and, where
    // it can, succeeds.
    expect(counts.resolved).toBeGreaterThan(CALLS / 10);
    expect(counts.rejected).toBeGreaterThan(CALLS / 10);
  }, TIME_LIMIT_MS + 30_000);
});

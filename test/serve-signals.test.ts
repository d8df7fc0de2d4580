// `finetuner serve` as a real child process: SIGHUP reloads the models from their folders while requests
// are in flight (every one succeeds; later requests get the new model's embeddings), and SIGTERM stops
// accepting, finishes the requests in flight and exits 0.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBertTokenizer } from '../examples/tokenizers/wordpiece.js';
import { spawnServe, type ServeChild } from '../bench/serveChild.js';
import { PYTHON, REPO_ROOT, tempDir } from './helpers/fixtures.js';

const work = tempDir('serve-signals');
const WORDS = 'the a red blue green cat dog bird runs jumps sleeps over under house tree river'.split(' ');
const text = (i: number) => Array.from({ length: 8 }, (_, j) => WORDS[(i * 5 + j * 3) % WORDS.length]).join(' ');
let served: string;
let other: string;

function exportBert(out: string, tokenizer: string, seed: number): string {
  execFileSync(PYTHON, [join(REPO_ROOT, 'scripts', 'export_torchscript'), 'bert-base-cased', '--out', out, '--size', 'tiny', '--random-init', '--seed', String(seed), '--tokenizer', tokenizer], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return out;
}

beforeAll(async () => {
  const tokenizer = join(work.dir, 'tokenizer.json');
  await writeBertTokenizer(tokenizer, Array.from({ length: 100 }, (_, i) => text(i)), { vocabSize: 120, lowercase: true });
  served = exportBert(join(work.dir, 'served'), tokenizer, 0);
  other = exportBert(join(work.dir, 'other'), tokenizer, 1);
}, 60_000);
afterAll(() => work.cleanup());

const startServer = (model: string): Promise<ServeChild> =>
  spawnServe(join(REPO_ROOT, 'dist', 'cli', 'main.js'), ['--model', model, '--port', '0', '--device', 'cpu'], 1);

const embed = (url: string, i: number) =>
  fetch(`${url}/embed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: Array.from({ length: 16 }, (_, j) => text(i + j)) }) })
    .then(async (r) => ({ status: r.status, body: (await r.json()) as number[][] }));

async function until(condition: () => boolean, what: string, child: ServeChild): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > 30_000) throw new Error(`timed out waiting for ${what}: ${child.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('finetuner serve signals', () => {
  it('SIGHUP reloads the models without failing a request; SIGTERM finishes the requests in flight and exits 0', async () => {
    const child = await startServer(served);
    try {
      const before = await embed(child.url, 0);
      expect(before.status).toBe(200);

      // The folder now holds another model (other weights); SIGHUP while 48 requests are in flight.
      rmSync(served, { recursive: true });
      cpSync(other, served, { recursive: true });
      const during = Array.from({ length: 48 }, (_, i) => embed(child.url, i));
      await Promise.race(during);
      child.process.kill('SIGHUP');
      const results = await Promise.all(during);
      expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
      await until(() => /models reloaded/.test(child.stderr()), 'the reload', child);
      const after = await embed(child.url, 0);
      expect(after.status).toBe(200);
      // The new weights give other embeddings for the same texts.
      expect(Math.max(...after.body[0]!.map((v, j) => Math.abs(v - before.body[0]![j]!)))).toBeGreaterThan(1e-3);

      // SIGTERM once the first of 48 requests has its answer: the other 47 are in flight and all finish.
      const inFlight = Array.from({ length: 48 }, (_, i) => embed(child.url, i));
      await Promise.race(inFlight);
      child.process.kill('SIGTERM');
      const finished = await Promise.all(inFlight);
      expect(finished.map((r) => r.status)).toEqual(finished.map(() => 200));
      expect(await child.exit, child.stderr()).toBe(0);
      expect(child.stderr()).toMatch(/stopped/);
      await expect(fetch(`${child.url}/health`)).rejects.toThrow();
    } finally {
      child.process.kill('SIGKILL');
    }
  }, 90_000);
});

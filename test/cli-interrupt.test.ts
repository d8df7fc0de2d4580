// Ctrl-C during `finetuner encode --out x.npy` (issue 10, item 12): the temporary .npy must not be left
// behind, and the exit code says the run was interrupted. Before the fix the default SIGINT handler
// killed the process with x.npy.tmp-* still on disk.

import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportTiny, REPO_ROOT, tempDir } from './helpers/fixtures.js';
import sharp from 'sharp';

const work = tempDir('cli-interrupt');
afterAll(() => work.cleanup());

describe('finetuner encode interrupted', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} while streaming to --out removes the partial file and exits ${signal === 'SIGINT' ? 130 : 143}`, async () => {
      const dir = join(work.dir, signal);
      const model = exportTiny('resnet50', join(dir, 'model'));
      const image = join(dir, 'a.png');
      await sharp({ create: { width: 24, height: 24, channels: 3, background: { r: 200, g: 20, b: 90 } } }).png().toFile(image);
      writeFileSync(join(dir, 'list.txt'), `${Array.from({ length: 20_000 }, () => 'a.png').join('\n')}\n`);
      const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'cli', 'main.js'), 'encode', '--model', model, '--input-list', join(dir, 'list.txt'),
        '--out', join(dir, 'x.npy'), '--batch-size', '16', '--device', 'cpu'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => { stderr += d; });
      const exit = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
      // Wait until the temporary .npy exists, so the signal lands mid-write.
      const started = Date.now();
      while (!readdirSync(dir).some((f) => f.startsWith('x.npy.tmp-'))) {
        if (Date.now() - started > 60_000) throw new Error(`no temporary .npy appeared: ${stderr}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      await new Promise((r) => setTimeout(r, 200));
      child.kill(signal);
      expect(await exit, stderr).toBe(signal === 'SIGINT' ? 130 : 143);
      expect(stderr).toMatch(new RegExp(`interrupted by ${signal}`));
      expect(readdirSync(dir).filter((f) => f.startsWith('x.npy'))).toEqual([]);
    }, 120_000);
  }
});

// Where models are written (issue 10, items 7 and 8): save() and fit({ outputDir }) never replace what
// finetuner did not write, find an unwritable place before training, swap the new model in so that the
// target is always the old or the new model, and clean up what a killed run left behind.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fit, loadModel, type EmbeddingModel } from '../lib/index.js';
import { removeStaleLitter } from '../lib/outputDir.js';
import { exportTiny, REPO_ROOT, syntheticImages, tempDir } from './helpers/fixtures.js';

const work = tempDir('output-dir');
let backbone: string;
let model: EmbeddingModel;
beforeAll(async () => {
  backbone = exportTiny('resnet50', join(work.dir, 'resnet50-tiny'));
  model = await loadModel(backbone, { precision: 'fp32', device: 'cpu', outputDim: 8, imageSize: 16 });
});
afterAll(() => {
  model?.dispose();
  work.cleanup();
});

const litter = (dir: string, name: string) => readdirSync(dir).filter((f) => f.startsWith(`.${name}.finetuner-`));

/** A model folder is complete: finetuner.json parses and model.pt is a whole zip (end record present). */
function completeModel(dir: string): boolean {
  const meta = JSON.parse(readFileSync(join(dir, 'finetuner.json'), 'utf8'));
  const pt = readFileSync(join(dir, meta.model));
  const tail = pt.subarray(Math.max(0, pt.length - 65_557));
  return meta.format === 'finetuner-embedding' && tail.includes(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
}

describe('save() and fit({ outputDir }) refuse targets they would harm', () => {
  it('refuses a non-empty folder that is not a model, and leaves its files alone', async () => {
    const dir = join(work.dir, 'user-files');
    mkdirSync(dir);
    writeFileSync(join(dir, 'thesis.tex'), 'precious');
    await expect(model.save(dir)).rejects.toThrow(/is a non-empty directory that is not a finetuner model/);
    expect(readdirSync(dir)).toEqual(['thesis.tex']);
    expect(litter(work.dir, 'user-files')).toEqual([]);
  });

  it('refuses a regular file instead of turning it into a directory', async () => {
    const file = join(work.dir, 'notes.txt');
    writeFileSync(file, 'keep me');
    await expect(model.save(file)).rejects.toThrow(/exists and is not a directory/);
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  });

  it('refuses an outputDir that contains the input model, before training', async () => {
    const parent = join(work.dir, 'models');
    const input = join(parent, 'input');
    await model.save(input);
    const started = Date.now();
    await expect(fit({ model: input, trainData: syntheticImages(2, 4, 16, 1), epochs: 50, batchSize: 4, numItemsPerClass: 2, outputDir: parent }))
      .rejects.toThrow(/contains the input model/);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(completeModel(input)).toBe(true);
  });

  it('refuses a path with a NUL byte instead of cutting it short', async () => {
    await expect(model.save(`${work.dir}/out\0evil`)).rejects.toThrow(/NUL byte/);
  });

  it('finds an unwritable outputDir before training, not after', async () => {
    const blocker = join(work.dir, 'a-file');
    writeFileSync(blocker, '');
    const started = Date.now();
    await expect(fit({ model, trainData: syntheticImages(2, 4, 16, 1), epochs: 200, batchSize: 4, numItemsPerClass: 2, outputDir: join(blocker, 'out') }))
      .rejects.toThrow(/cannot write there \(a part of the path is a file\)/);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  const readOnly = join(work.dir, 'read-only');
  mkdirSync(readOnly, { recursive: true });
  const mounted = process.platform === 'linux' && spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', readOnly]).status === 0;
  if (!mounted) console.warn('output-dir.test.ts: read-only filesystem case skipped (mounting a tmpfs needs root)');
  it.skipIf(!mounted)('names a read-only filesystem before training', async () => {
    try {
      await expect(fit({ model, trainData: syntheticImages(2, 4, 16, 1), epochs: 200, batchSize: 4, numItemsPerClass: 2, outputDir: join(readOnly, 'out') }))
        .rejects.toThrow(/cannot write there \(read-only filesystem\)/);
    } finally {
      spawnSync('umount', [readOnly]);
    }
  });
});

describe('replacing a model', () => {
  it('swaps the new model in and leaves nothing beside it', async () => {
    const out = join(work.dir, 'replaced');
    await model.save(out, { training: { generation: 1 } });
    await model.save(out, { training: { generation: 2 } });
    expect(JSON.parse(readFileSync(join(out, 'finetuner.json'), 'utf8')).training).toEqual({ generation: 2 });
    expect(completeModel(out)).toBe(true);
    expect(litter(work.dir, 'replaced')).toEqual([]);
  });

  it('removes the litter of dead processes, moves a stranded old model back, and leaves live ones', async () => {
    const out = join(work.dir, 'crashed');
    const dead = 2 ** 22 + 12345; // above pid_max's default: no such process
    await model.save(join(work.dir, `.crashed.finetuner-old-${dead}-0000abcd`), { training: { generation: 'old' } });
    mkdirSync(join(work.dir, `.crashed.finetuner-staging-${dead}-0000beef`));
    mkdirSync(join(work.dir, `.crashed.finetuner-staging-${process.pid}-0000cafe`));
    mkdirSync(join(work.dir, '.crashed.finetuner-staging-notapid'));
    await removeStaleLitter(out);
    expect(JSON.parse(readFileSync(join(out, 'finetuner.json'), 'utf8')).training).toEqual({ generation: 'old' });
    expect(litter(work.dir, 'crashed').sort()).toEqual([`.crashed.finetuner-staging-${process.pid}-0000cafe`, '.crashed.finetuner-staging-notapid']);
  });
});

describe('kill -9 at random moments of save and fit', () => {
  // Each round starts a child that writes the model again and again and kills it after a random delay.
  // Afterwards the target must be absent (nothing committed yet) or a complete model, and the next
  // write must leave no litter.
  const rounds = { save: 14, fit: 6 };
  for (const mode of ['save', 'fit'] as const) {
    it(`${mode}: the target is always absent or a complete model (${rounds[mode]} kills)`, async () => {
      const parent = join(work.dir, `kill-${mode}`);
      mkdirSync(parent);
      const out = join(parent, 'out');
      let seed = 12345;
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const states = { absent: 0, complete: 0, commits: 0 };
      for (let round = 0; round < rounds[mode]; round++) {
        const existedBefore = existsSync(out);
        const child = spawn(process.execPath, [join(REPO_ROOT, 'test', 'helpers', 'save-loop.mjs'), backbone, out, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        let stderr = '';
        child.stderr.on('data', (d) => { stderr += d; });
        const exited = new Promise<void>((done) => child.on('exit', () => done()));
        await new Promise<void>((ready, failed) => {
          child.stdout.on('data', (d) => { output += d; if (output.includes('ready')) ready(); });
          child.on('exit', () => failed(new Error(`child exited before it was ready: ${stderr}`)));
        });
        await new Promise((r) => setTimeout(r, random() * (mode === 'fit' ? 3000 : 800)));
        child.kill('SIGKILL');
        await exited;
        states.commits += (output.match(/saved/g) ?? []).length;
        if (existsSync(out)) {
          expect(statSync(out).isDirectory()).toBe(true);
          expect(completeModel(out), `round ${round}`).toBe(true);
          states.complete++;
        } else {
          expect(existedBefore, `round ${round}: the model that was there before is gone`).toBe(false);
          states.absent++;
        }
      }
      console.log(`kill -9 during ${mode}: ${rounds[mode]} kills, ${states.commits} writes completed, target afterwards complete ${states.complete}, absent ${states.absent}`);
      // The next write cleans up whatever the kills left.
      await model.save(out, { training: { generation: 'after' } });
      expect(completeModel(out)).toBe(true);
      expect(litter(parent, 'out')).toEqual([]);
    }, 180_000);
  }
});

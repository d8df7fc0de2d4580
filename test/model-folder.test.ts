// A model folder written by someone else (issue 10, items 6 and 9, and the BOM): paths in finetuner.json
// stay inside the folder, files are checked to be regular before anything reads them (a FIFO used to
// block the compute thread forever), and errors never echo a file's contents.

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../lib/index.js';
import { TextTokenizer } from '../lib/text/tokenizer.js';
import { exportTiny, tempDir } from './helpers/fixtures.js';

const work = tempDir('model-folder');
let backbone: string;
let saved: string;
beforeAll(async () => {
  backbone = exportTiny('resnet50', join(work.dir, 'resnet50-tiny'));
  saved = join(work.dir, 'saved');
  const model = await loadModel(backbone, { precision: 'fp32', device: 'cpu', outputDim: 8, imageSize: 16 });
  await model.save(saved);
  model.dispose();
});
afterAll(() => work.cleanup());

function editedCopy(name: string, edit: (meta: Record<string, unknown>) => void): string {
  const dir = join(work.dir, name);
  mkdirSync(dir);
  copyFileSync(join(saved, 'model.pt'), join(dir, 'model.pt'));
  const meta = JSON.parse(readFileSync(join(saved, 'finetuner.json'), 'utf8'));
  edit(meta);
  writeFileSync(join(dir, 'finetuner.json'), JSON.stringify(meta));
  return dir;
}

describe('paths named by finetuner.json', () => {
  it('refuses a saved model whose "model" leaves its folder', async () => {
    mkdirSync(join(work.dir, 'x'));
    copyFileSync(join(saved, 'model.pt'), join(work.dir, 'x', 'model.pt'));
    const dir = editedCopy('escaping', (m) => { m.model = '../x/model.pt'; });
    await expect(loadModel(dir, { precision: 'fp32' })).rejects.toThrow(/field "model" names "\.\.\/x\/model\.pt", which is outside/);
    const absolute = editedCopy('absolute', (m) => { m.model = join(work.dir, 'x', 'model.pt'); });
    await expect(loadModel(absolute, { precision: 'fp32' })).rejects.toThrow(/field "model" .* which is outside/);
  });

  it('saves under a fixed name, whatever name the loaded folder used', async () => {
    const dir = editedCopy('renamed', (m) => { m.model = 'weights.pt'; });
    copyFileSync(join(dir, 'model.pt'), join(dir, 'weights.pt'));
    const model = await loadModel(dir, { precision: 'fp32' });
    const out = join(work.dir, 'renamed-out');
    await model.save(out);
    model.dispose();
    expect(JSON.parse(readFileSync(join(out, 'finetuner.json'), 'utf8')).model).toBe('model.pt');
    expect(readFileSync(join(out, 'model.pt')).length).toBeGreaterThan(0);
  });

  it('accepts a finetuner.json with a UTF-8 byte-order mark', async () => {
    const dir = join(work.dir, 'bom');
    mkdirSync(dir);
    copyFileSync(join(saved, 'model.pt'), join(dir, 'model.pt'));
    writeFileSync(join(dir, 'finetuner.json'), `\uFEFF${readFileSync(join(saved, 'finetuner.json'), 'utf8')}`);
    const model = await loadModel(dir, { precision: 'fp32' });
    expect(model.outputDim).toBe(8);
    model.dispose();
  });
});

describe('files that are not regular files', () => {
  const fifoOk = spawnSync('mkfifo', ['--version']).status === 0;
  it.skipIf(!fifoOk)('a FIFO as model.pt is an error naming it, and later jobs still run', async () => {
    const dir = editedCopy('fifo', () => undefined);
    const fifo = join(dir, 'model.pt');
    spawnSync('rm', [fifo]);
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    await expect(loadModel(dir, { precision: 'fp32' })).rejects.toThrow(/model\.pt is a FIFO \(named pipe\), not a regular file/);
    const backboneFifo = join(work.dir, 'backbone-fifo');
    mkdirSync(backboneFifo);
    copyFileSync(join(backbone, 'finetuner.json'), join(backboneFifo, 'finetuner.json'));
    expect(spawnSync('mkfifo', [join(backboneFifo, 'model.pt')]).status).toBe(0);
    await expect(loadModel(backboneFifo, { precision: 'fp32' })).rejects.toThrow(/FIFO/);
    // The compute thread is not blocked: a real model still loads and encodes.
    const model = await loadModel(saved, { precision: 'fp32' });
    expect((await model.encode([{ pixels: new Uint8Array(16 * 16 * 3), width: 16, height: 16, channels: 3 }])).rows).toBe(1);
    model.dispose();
  });

  it('a directory as finetuner.json is named as such', async () => {
    const dir = join(work.dir, 'dir-meta');
    mkdirSync(join(dir, 'finetuner.json'), { recursive: true });
    await expect(loadModel(dir, { precision: 'fp32' })).rejects.toThrow(/finetuner\.json is a directory, not a regular file/);
  });
});

describe('errors about broken JSON', () => {
  it('name the file but never echo its contents', async () => {
    const file = join(work.dir, 'tokenizer.json');
    writeFileSync(file, 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n');
    const error = await TextTokenizer.fromFile(file).then(() => undefined, (e: Error) => e);
    expect(error?.message).toContain(file);
    expect(error?.message).toMatch(/not a tokenizer\.json: invalid JSON/);
    expect(error?.message).not.toMatch(/root:x|daemon/);
    const meta = editedCopy('passwd-meta', () => undefined);
    writeFileSync(join(meta, 'finetuner.json'), '{"format": "finetuner-embedding", secret-token-123');
    const metaError = await loadModel(meta, { precision: 'fp32' }).then(() => undefined, (e: Error) => e);
    expect(metaError?.message).toMatch(/finetuner\.json: not a finetuner\.json: invalid JSON/);
    expect(metaError?.message).not.toContain('secret-token');
  });
});

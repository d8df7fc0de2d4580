// A finetuner.json that does not match its model.pt (issue 10, item 5, and the CLI's TorchScript trace):
// before the fix a shortened trunk gave rows of zeros and rows holding two embeddings without a word,
// a wrong embeddingDim a bare RangeError, and with a projection the CLI printed the interpreter's whole
// traceback.

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../lib/index.js';
import { exportTiny, REPO_ROOT, tempDir } from './helpers/fixtures.js';

const work = tempDir('metadata-mismatch');
let backbone: string;
beforeAll(() => { backbone = exportTiny('resnet50', join(work.dir, 'resnet50-tiny')); });
afterAll(() => work.cleanup());

function edited(name: string, edit: (meta: { embeddingDim: number; trunk: string[] }) => void): string {
  const dir = join(work.dir, name);
  cpSync(backbone, dir, { recursive: true });
  const meta = JSON.parse(readFileSync(join(dir, 'finetuner.json'), 'utf8'));
  edit(meta);
  writeFileSync(join(dir, 'finetuner.json'), JSON.stringify(meta));
  return dir;
}

const images = [10, 200, 90].map((v) => ({ pixels: new Uint8Array(16 * 16 * 3).fill(v), width: 16, height: 16, channels: 3 as const }));

describe('finetuner.json that does not match model.pt', () => {
  it('a trunk cut short is an error, not rows of zeros', async () => {
    const model = await loadModel(edited('short-trunk', (m) => { m.trunk = m.trunk.slice(0, -1); }), { precision: 'fp32', device: 'cpu', imageSize: 16 });
    await expect(model.encode(images)).rejects.toThrow(/produced 256-dim embeddings, but its finetuner\.json says 512 \(embeddingDim or trunk does not match model\.pt/);
    model.dispose();
  });

  it('a wrong embeddingDim is an error naming it', async () => {
    const model = await loadModel(edited('wrong-dim', (m) => { m.embeddingDim = 256; }), { precision: 'fp32', device: 'cpu', imageSize: 16 });
    await expect(model.encode(images)).rejects.toThrow(/produced 512-dim embeddings, but its finetuner\.json says 256/);
    model.dispose();
  });

  it('with a projection the error is one line, not the TorchScript traceback', async () => {
    const dir = edited('projected', (m) => { m.embeddingDim = 256; });
    const model = await loadModel(dir, { precision: 'fp32', device: 'cpu', imageSize: 16, outputDim: 8 });
    const error = await model.encode(images).then(() => undefined, (e: Error) => e);
    model.dispose();
    expect(error?.message).toBe('mat1 and mat2 shapes cannot be multiplied (3x512 and 256x8) (in TorchScript encode_pixels > forward)');
    // The CLI (which loads the backbone without a projection) prints one line too.
    const image = join(work.dir, 'a.npy-input.png');
    execFileSync(process.execPath, ['-e', `require('sharp')({create:{width:16,height:16,channels:3,background:'red'}}).png().toFile(${JSON.stringify(image)})`], { cwd: REPO_ROOT });
    const cli = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'cli', 'main.js'), 'encode', '--model', dir, '--image-size', '16', '--out', join(work.dir, 'x.npy'), image], { encoding: 'utf8' });
    expect(cli.status).toBe(1);
    const lines = cli.stderr.split('\n').filter((l) => l.startsWith('finetuner'));
    expect(lines, cli.stderr).toEqual(['finetuner: resnet50: the model produced 512-dim embeddings, but its finetuner.json says 256 (embeddingDim or trunk does not match model.pt: re-export the backbone)']);
    expect(cli.stderr).not.toMatch(/Traceback|<--- HERE/);
  });
});

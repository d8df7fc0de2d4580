// The compiled `finetuner` CLI end to end on a tiny random-init backbone: export, fit, encode, eval,
// describe, and the errors users hit first (exit codes 2 for usage, 1 for data and library errors).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy } from '../lib/npy.js';
import { PYTHON, REPO_ROOT, random, tempDir } from './helpers/fixtures.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const tmp = tempDir('cli');
const dir = tmp.dir;
const backbone = join(dir, 'backbone');
const tuned = join(dir, 'tuned');
const images: string[] = [];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Run {
  const env = { ...process.env };
  delete env.FINETUNER_DEBUG;
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** 32x32 PNGs of 3 classes with distinct base colours (red, green, blue) plus noise. */
async function writeImages(): Promise<void> {
  const rand = random(7);
  const bases = [[200, 30, 30], [30, 200, 30], [30, 30, 200]];
  mkdirSync(join(dir, 'images'));
  const rows = ['image,label'];
  for (const [c, base] of bases.entries()) {
    for (let n = 0; n < 6; n++) {
      const pixels = Buffer.alloc(32 * 32 * 3);
      for (let i = 0; i < pixels.length; i++) pixels[i] = Math.max(0, Math.min(255, base[i % 3]! + (rand() - 0.5) * 80));
      const name = `images/c${c}-${n}.png`;
      await sharp(pixels, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(join(dir, name));
      images.push(join(dir, name));
      rows.push(`${name},colour-${c}`);
    }
  }
  writeFileSync(join(dir, 'train.csv'), `${rows.join('\n')}\n`);
  // Row 3 (the header is row 1) has no label.
  writeFileSync(join(dir, 'bad.csv'), `image,label\n${rows[1]}\nimages/c0-1.png,\n${rows[8]}\n`);
}

beforeAll(async () => {
  // Builds all of lib/ (the CLI imports the library). Other modules' type errors are not this file's to
  // judge, but the CLI's own must fail the suite.
  const tsc = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  const ownErrors = tsc.stdout.split('\n').filter((line) => /^lib\/(cli\/|npy\.ts)/.test(line));
  if (ownErrors.length > 0 || !existsSync(CLI)) throw new Error(`tsc failed:\n${tsc.stdout}${tsc.stderr}`);
  await writeImages();
});

afterAll(() => tmp.cleanup());

describe('finetuner CLI', () => {
  it('describe --task image-to-image prints the titled table', () => {
    const run = cli('describe', '--task', 'image-to-image');
    expect(run.status).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toBe('Finetuner backbones: image-to-image');
    expect(lines[1]).toMatch(/^name +\| task +\| output_dim \| architecture \| description$/);
    expect(run.stdout).toContain('resnet50');
    expect(run.stdout).not.toContain('text-to-text');
  });

  it('prints help for the CLI and for each verb, with defaults', () => {
    const main = cli('--help');
    expect(main.status).toBe(0);
    for (const verb of ['describe', 'export', 'fit', 'encode', 'eval', 'build-native', 'info', 'demo']) {
      expect(main.stdout).toMatch(new RegExp(`^  ${verb} `, 'm'));
    }
    const fit = cli('fit', '--help');
    expect(fit.status).toBe(0);
    expect(fit.stdout).toMatch(/--epochs N +passes over the training data \(default: 5\)/);
    expect(fit.stdout).toMatch(/--output-dir DIR .*\(required\)/);
    const build = cli('build-native', '--help');
    expect(build.status).toBe(0);
    expect(build.stdout).toContain('Usage: finetuner build-native');
    expect(build.stdout).toContain('cmake-js');
  });

  it('rejects an unknown verb or option with exit code 2 and the usage', () => {
    const verb = cli('frobnicate');
    expect(verb.status).toBe(2);
    expect(verb.stderr).toContain("finetuner: unknown verb 'frobnicate'");
    expect(verb.stderr).toContain('Usage: finetuner VERB');
    const option = cli('encode', '--model', backbone, '--bogus', 'x.png');
    expect(option.status).toBe(2);
    expect(option.stderr).toContain("finetuner encode: unknown option '--bogus'");
    expect(option.stderr).toContain('Usage: finetuner encode');
  });

  it('export: an unknown model name fails with exit code 1, suggestions and no stack trace', () => {
    const run = cli('export', 'resnet5', '--out', join(dir, 'nope'), '--random-init');
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^finetuner: Unknown model "resnet5"\. Did you mean "resnet50"/);
    expect(run.stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(join(dir, 'nope'))).toBe(false);
  });

  it('export writes a tiny random-init backbone, progress on stderr', () => {
    const run = cli('export', 'resnet50', '--out', backbone, '--size', 'tiny', '--random-init');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toContain('resnet50: done');
    expect(run.stdout).toMatch(/exported resnet50 \(tiny, random-init, embedding dim 512\)/);
    const metadata = JSON.parse(readFileSync(join(backbone, 'finetuner.json'), 'utf8'));
    expect(metadata).toMatchObject({ format: 'finetuner-backbone', name: 'resnet50', size: 'tiny' });
  });

  it('fit trains one epoch, prints the history with eval metrics and saves the model', () => {
    const run = cli(
      'fit', '--model', backbone, '--train-data', 'train.csv', '--eval-data', 'train.csv', '--output-dir', tuned,
      '--epochs', '1', '--batch-size', '12', '--num-items-per-class', '4', '--image-size', '32', '--output-dim', '16',
      '--learning-rate', '1e-3', '--device', 'cpu',
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/epoch 1\/1 .*loss=/); // the progress bar (plain lines: stderr is a pipe)
    expect(run.stderr).toMatch(/epoch 1\/1: mean loss \d/);
    expect(run.stdout).toContain('Training history');
    expect(run.stdout).toMatch(/^epoch \| +loss \| examples \| steps \| seconds \| precision@10 \|/m);
    expect(run.stdout).toMatch(/^ +1 \| /m);
    expect(run.stdout).toContain(`saved the fine-tuned model to ${tuned}`);
    const metadata = JSON.parse(readFileSync(join(tuned, 'finetuner.json'), 'utf8'));
    expect(metadata).toMatchObject({ format: 'finetuner-embedding', outputDim: 16, preprocessing: { crop: 32 } });
  });

  it('encode writes a .npy matrix numpy reads, in input order, from arguments or --input-list', async () => {
    const run = cli('encode', '--model', tuned, '--out', 'emb.npy', '--batch-size', '4', ...images);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`wrote emb.npy: ${images.length} x 16 float32`);
    const code =
      'import sys, json, numpy as np\n' +
      'a = np.load(sys.argv[1])\n' +
      'print(json.dumps({"shape": list(a.shape), "dtype": a.dtype.str, "norms": np.linalg.norm(a, axis=1).tolist()}))';
    const loaded = JSON.parse(execFileSync(PYTHON, ['-c', code, join(dir, 'emb.npy')], { encoding: 'utf8' }));
    expect(loaded.shape).toEqual([images.length, 16]);
    expect(loaded.dtype).toBe('<f4');
    for (const norm of loaded.norms) expect(norm).toBeCloseTo(1, 4);

    writeFileSync(join(dir, 'list.txt'), `# all images\n${images.slice(0, 5).map((p) => p.slice(dir.length + 1)).join('\n')}\n\n`);
    const listed = cli('encode', '--model', tuned, '--input-list', 'list.txt', '--out', 'list.npy');
    expect(listed.status, listed.stderr).toBe(0);
    const all = await readNpy(join(dir, 'emb.npy'));
    const some = await readNpy(join(dir, 'list.npy'));
    expect(some.shape).toEqual([5, 16]);
    for (let i = 0; i < some.data.length; i++) expect(some.data[i]).toBeCloseTo(all.data[i]!, 5);
  });

  it('eval prints a metrics table, or JSON with --json', () => {
    const json = cli('eval', '--model', tuned, '--queries', 'train.csv', '--k', '5', '--json');
    expect(json.status, json.stderr).toBe(0);
    const metrics = JSON.parse(json.stdout);
    expect(metrics).toMatchObject({ k: 5, queries: images.length, skippedQueries: 0, excludedSelf: true });
    for (const key of ['precisionAtK', 'recallAtK', 'hitAtK', 'mrr', 'ndcgAtK', 'map']) {
      expect(metrics[key]).toBeGreaterThanOrEqual(0);
      expect(metrics[key]).toBeLessThanOrEqual(1);
    }
    const table = cli('eval', '--model', tuned, '--queries', 'train.csv', '--index', 'train.csv');
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^Retrieval metrics of .*\(k=10\)$/m);
    expect(table.stdout).toMatch(/^precision@10 +\| +[\d.]+$/m);
    expect(table.stdout).toMatch(/^queries +\| +18$/m);
  });

  it('fit rejects a non-numeric --epochs and a missing --output-dir with exit code 2', () => {
    const epochs = cli('fit', '--model', backbone, '--train-data', 'train.csv', '--output-dir', join(dir, 'o1'), '--epochs', 'abc');
    expect(epochs.status).toBe(2);
    expect(epochs.stderr).toContain("finetuner fit: option --epochs must be a positive integer, got 'abc'");
    const output = cli('fit', '--model', backbone, '--train-data', 'train.csv');
    expect(output.status).toBe(2);
    expect(output.stderr).toContain('missing required option --output-dir');
  });

  it('fit names the CSV row with a missing label, and never replaces a directory that is not a model', () => {
    const run = cli('fit', '--model', backbone, '--train-data', 'bad.csv', '--output-dir', join(dir, 'o2'), '--device', 'cpu');
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^finetuner: bad\.csv row 3: missing label \(column "label"\)$/m);
    expect(run.stderr).not.toMatch(/^\s+at /m);
    const notModel = cli('fit', '--model', backbone, '--train-data', 'train.csv', '--output-dir', join(dir, 'images'));
    expect(notModel.status).toBe(1);
    expect(notModel.stderr).toContain('is a non-empty directory that is not a finetuner model');
  });

  it('encode names a missing image', () => {
    const run = cli('encode', '--model', tuned, 'images/c0-0.png', 'images/missing.png');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('finetuner: image not found: images/missing.png');
  });

  it('info prints the LibTorch versions and the binary that loaded', () => {
    const run = cli('info');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^LibTorch +built against \d+\.\d+/m);
    expect(run.stdout).toMatch(/^native binary +.*finetuner\.node/m);
  });
});

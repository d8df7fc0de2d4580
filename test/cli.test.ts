// The compiled `finetuner` CLI end to end on tiny random-init backbones (a CNN on images, a BERT with a
// WordPiece tokenizer built from WordNet on text pairs): export, fit, encode, eval, describe, and the
// errors users hit first (exit codes 2 for usage, 1 for data and library errors).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWordnetPairs } from '../examples/data/wordnet.js';
import { readNpy } from '../lib/npy.js';
import { writeClipTokenizer } from '../examples/tokenizers/clipBpe.js';
import { writeBertTokenizer } from '../examples/tokenizers/wordpiece.js';
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
    for (const verb of ['describe', 'export', 'export-onnx', 'fit', 'encode', 'eval', 'build-native', 'info', 'demo']) {
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

  it('demo says how to run the demos from a clone: the package does not hold them', () => {
    const run = cli('demo', '--task', 'text-to-text');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('not part of the installed package');
    expect(run.stderr).toContain('npm run demo -- --task text-to-text');
    const help = cli('demo', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('npm run demo -- --task text-to-image');
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

});

/** One CSV line, fields quoted where needed (WordNet definitions hold commas and quotes). */
function csvLine(fields: Array<string | number>): string {
  return fields.map((f) => (typeof f === 'string' && /[",\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : String(f))).join(',');
}

describe('finetuner CLI on a text model', () => {
  const bert = join(dir, 'bert');
  const bertTuned = join(dir, 'bert-tuned');
  let pairCount = 0;
  let queryCount = 0;

  beforeAll(async () => {
    const pairs = await readWordnetPairs({ seed: 5, limit: 200 });
    await writeBertTokenizer(join(dir, 'tokenizer.json'), pairs.flatMap((p) => [p.query, p.document]), { vocabSize: 1200, lowercase: true });
    const rows = pairs.slice(0, 96);
    pairCount = rows.length;
    queryCount = new Set(rows.map((p) => p.query)).size;
    writeFileSync(join(dir, 'pairs.csv'), `query,document\n${rows.map((p) => csvLine([p.query, p.document])).join('\n')}\n`);
  });

  it('export writes a tiny random-init BERT with the tokenizer given', () => {
    const run = cli('export', 'bert-base-cased', '--size', 'tiny', '--random-init', '--tokenizer', 'tokenizer.json', '--out', bert);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/exported bert-base-cased \(tiny, random-init, embedding dim \d+, tokenizer tokenizer\.json\)/);
    const metadata = JSON.parse(readFileSync(join(bert, 'finetuner.json'), 'utf8'));
    expect(metadata).toMatchObject({ format: 'finetuner-backbone', task: 'text-to-text', text: { tokenizer: 'tokenizer.json' } });
    expect(existsSync(join(bert, 'tokenizer.json'))).toBe(true);
  });

  it('export names text-only options given to an image model, and a file as a text model\'s --weights', () => {
    const tokenizer = cli('export', 'resnet50', '--size', 'tiny', '--random-init', '--tokenizer', 'tokenizer.json', '--out', join(dir, 'x1'));
    expect(tokenizer.status).toBe(1);
    expect(tokenizer.stderr).toContain('finetuner: --tokenizer applies to text-to-text and text-to-image models, not resnet50 (image-to-image)');
    const weights = cli('export', 'bert-base-cased', '--weights', 'tokenizer.json', '--out', join(dir, 'x2'));
    expect(weights.status).toBe(1);
    expect(weights.stderr).toMatch(/^finetuner: --weights must be a Hugging Face model folder .*tokenizer\.json$/m);
    const vocab = cli('export', 'bert-base-cased', '--vocab-size', '100', '--random-init', '--out', join(dir, 'x3'));
    expect(vocab.status).toBe(1);
    expect(vocab.stderr).toContain('--vocab-size applies to a --random-init export of --size tiny only');
    expect(existsSync(join(dir, 'x1')) || existsSync(join(dir, 'x2')) || existsSync(join(dir, 'x3'))).toBe(false);
  });

  it('fit trains one epoch on query-document pairs and saves a text model', () => {
    const run = cli(
      'fit', '--model', bert, '--train-data', 'pairs.csv', '--output-dir', bertTuned, '--epochs', '1', '--batch-size', '16',
      '--loss', 'MultipleNegativesRankingLoss', '--scale', '20', '--max-length', '32', '--trainable-layers', '1',
      '--scheduler', 'linear', '--warmup-steps', '2', '--learning-rate', '1e-3', '--device', 'cpu',
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/epoch 1\/1: mean loss \d/);
    expect(run.stdout).toMatch(/^ +1 \| /m);
    const metadata = JSON.parse(readFileSync(join(bertTuned, 'finetuner.json'), 'utf8'));
    expect(metadata).toMatchObject({
      format: 'finetuner-embedding', modality: 'text', text: { tokenizer: 'tokenizer.json', maxLength: 32 },
      training: { loss: 'MultipleNegativesRankingLoss', trainableLayers: 1, scheduler: 'linear' },
    });
  });

  it('encode writes one row per text, from arguments or --input-list', async () => {
    const texts = ['a domestic animal that barks', 'a large body of salt water', 'the #1 place to live'];
    const run = cli('encode', '--model', bertTuned, '--out', 'text.npy', ...texts);
    expect(run.status, run.stderr).toBe(0);
    const code = 'import sys, json, numpy as np\na = np.load(sys.argv[1])\nprint(json.dumps({"shape": list(a.shape), "dtype": a.dtype.str}))';
    const loaded = JSON.parse(execFileSync(PYTHON, ['-c', code, join(dir, 'text.npy')], { encoding: 'utf8' }));
    expect(loaded.shape[0]).toBe(3);
    expect(loaded.dtype).toBe('<f4');
    expect(run.stdout).toContain(`wrote text.npy: 3 x ${loaded.shape[1]} float32`);

    writeFileSync(join(dir, 'texts.txt'), `${texts.join('\n')}\n`);
    const listed = cli('encode', '--model', bertTuned, '--input-list', 'texts.txt', '--out', 'texts.npy');
    expect(listed.status, listed.stderr).toBe(0);
    const a = await readNpy(join(dir, 'text.npy'));
    const b = await readNpy(join(dir, 'texts.npy'));
    expect(b.shape).toEqual(a.shape);
    for (let i = 0; i < a.data.length; i++) expect(b.data[i]).toBeCloseTo(a.data[i]!, 5);

    writeFileSync(join(dir, 'gap.txt'), `${texts[0]}\n\n${texts[1]}\n`);
    const gap = cli('encode', '--model', bertTuned, '--input-list', 'gap.txt', '--out', 'gap.npy');
    expect(gap.status).toBe(1);
    expect(gap.stderr).toMatch(/^finetuner: gap\.txt line 2: empty line/m);
    expect(existsSync(join(dir, 'gap.npy'))).toBe(false);
  });

  it('eval scores the pairs (each query ranks all documents) as JSON', () => {
    const run = cli('eval', '--model', bertTuned, '--queries', 'pairs.csv', '--k', '5', '--json');
    expect(run.status, run.stderr).toBe(0);
    const metrics = JSON.parse(run.stdout);
    expect(metrics).toMatchObject({ k: 5, queries: queryCount, excludedSelf: false });
    expect(pairCount).toBeGreaterThanOrEqual(queryCount);
    for (const key of ['precisionAtK', 'recallAtK', 'mrr', 'map']) {
      expect(metrics[key]).toBeGreaterThanOrEqual(0);
      expect(metrics[key]).toBeLessThanOrEqual(1);
    }
  });

  it('fit names the file and row of a malformed text CSV', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['one.csv', 'text\nhello\nworld\n', /^finetuner: one\.csv row 1: the header has 1 column \(text\); a text CSV has 2 to 4 columns/m],
      ['five.csv', 'a,b,c,d,e\nv,w,x,y,z\n', /^finetuner: five\.csv row 1: the header has 5 columns \(a, b, c, d, e\)/m],
      ['margin.csv', 'a,b,c,d\nw,x,y,z\n', /^finetuner: margin\.csv row 2: margin "z" is not a number \(column "d"\)$/m],
      ['ragged.csv', 'query,document\na dog,dog\na cat,cat,extra\n', /^finetuner: ragged\.csv row 3: has 3 column\(s\), expected 2/m],
      ['nan.csv', 'a,b,score\nx,y,0.5\nx,z,high\n', /^finetuner: nan\.csv row 3: score "high" is not a number \(column "score"\)$/m],
      ['range.csv', 'a,b,score\nx,y,0.5\nx,z,0.2\ny,z,1.5\n', /^finetuner: range\.csv row 4: score 1\.5 is outside \[0, 1\] \(column "score"\)$/m],
    ];
    for (const [file, text, message] of cases) {
      writeFileSync(join(dir, file), text);
      const run = cli('fit', '--model', bert, '--train-data', file, '--output-dir', join(dir, 'o-text'), '--device', 'cpu');
      expect(run.status, file).toBe(1);
      expect(run.stderr, file).toMatch(message);
      expect(run.stderr).not.toMatch(/^\s+at /m);
    }
    expect(existsSync(join(dir, 'o-text'))).toBe(false);
  });

  it('fit refuses options of the other modality: --trainable-layers on an image model, --image-size on a text model', () => {
    const layers = cli('fit', '--model', backbone, '--train-data', 'train.csv', '--output-dir', join(dir, 'o3'), '--trainable-layers', '2');
    expect(layers.status).toBe(1);
    expect(layers.stderr).toContain(`finetuner: --trainable-layers applies to text (transformer) models; --model ${backbone} is an image model (resnet50)`);
    const size = cli('fit', '--model', bert, '--train-data', 'pairs.csv', '--output-dir', join(dir, 'o4'), '--image-size', '32');
    expect(size.status).toBe(1);
    expect(size.stderr).toContain(`finetuner: --image-size applies to image models; --model ${bert} is a text model (bert-base-cased)`);
    const both = cli('fit', '--model', bert, '--train-data', 'pairs.csv', '--output-dir', join(dir, 'o5'), '--trainable-layers', '1', '--freeze');
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('options --freeze and --trainable-layers exclude each other');
  });
});

describe('finetuner CLI on a CLIP model', () => {
  const clip = join(dir, 'clip');
  const clipTuned = join(dir, 'clip-tuned');
  const captions = ['a red square', 'a green square', 'a blue square'];

  beforeAll(async () => {
    // The colour images of the image tests, captioned by colour: text,image pairs.
    const rows = ['text,image', ...images.map((image, i) => `${captions[Math.floor(i / 6)]},${image}`)];
    writeFileSync(join(dir, 'pairs-clip.csv'), `${rows.join('\n')}\n`);
    await writeClipTokenizer(join(dir, 'clip-tokenizer.json'), [...captions, 'a photo of a cat'], { vocabSize: 600 });
  });

  it('exports, fits with a frozen tower and WiSE-FT, encodes texts and images, and evaluates both directions', async () => {
    const exported = cli('export', 'ViT-B-32::openai', '--size', 'tiny', '--random-init', '--tokenizer', 'clip-tokenizer.json', '--out', clip);
    expect(exported.status, exported.stderr).toBe(0);
    const fitted = cli(
      'fit', '--model', clip, '--train-data', 'pairs-clip.csv', '--eval-data', 'pairs-clip.csv', '--output-dir', clipTuned,
      '--epochs', '2', '--batch-size', '6', '--learning-rate', '1e-3', '--freeze-tower', 'text', '--wise-ft', '0.5', '--device', 'cpu',
    );
    expect(fitted.status, fitted.stderr).toBe(0);
    expect(fitted.stderr).toMatch(/image-to-text hit@1 [\d.]+, MRR/);
    expect(fitted.stdout).toMatch(/WiSE-FT: weights interpolated with alpha 0\.5; eval mAP/);
    expect(JSON.parse(readFileSync(join(clipTuned, 'finetuner.json'), 'utf8'))).toMatchObject({ modality: 'text-image', training: { loss: 'CLIPLoss', freeze: 'text', wiseFt: 0.5 } });

    const texts = cli('encode', '--model', clipTuned, '--out', 'clip-text.npy', ...captions);
    expect(texts.status, texts.stderr).toBe(0);
    expect(texts.stdout).toContain('clip-text.npy: 3 x 32 float32');
    const imgs = cli('encode', '--model', clipTuned, '--out', 'clip-image.npy', images[0]!, images[6]!);
    expect(imgs.status, imgs.stderr).toBe(0);
    expect(imgs.stdout).toContain('clip-image.npy: 2 x 32 float32');
    const forced = cli('encode', '--model', clipTuned, '--out', 'clip-forced.npy', '--input-type', 'text', 'images/c0-0.png');
    expect(forced.status, forced.stderr).toBe(0); // a file name encoded as a caption when asked
    const text = await readNpy(join(dir, 'clip-forced.npy'));
    expect(text.shape).toEqual([1, 32]);

    const evaluated = cli('eval', '--model', clipTuned, '--queries', 'pairs-clip.csv', '--k', '5');
    expect(evaluated.status, evaluated.stderr).toBe(0);
    expect(evaluated.stdout).toContain('text-to-image');
    expect(evaluated.stdout).toContain('image-to-text');
  });

  it('names the options that do not apply to CLIP, and CLIP options on other models', () => {
    const freeze = cli('fit', '--model', clip, '--train-data', 'pairs-clip.csv', '--output-dir', join(dir, 'oc1'), '--freeze');
    expect(freeze.status).toBe(2);
    expect(freeze.stderr).toContain('--freeze does not apply to CLIP models (ViT-B-32::openai); use --freeze-tower image|text');
    const tower = cli('fit', '--model', backbone, '--train-data', 'train.csv', '--output-dir', join(dir, 'oc2'), '--freeze-tower', 'image');
    expect(tower.status).toBe(2);
    expect(tower.stderr).toContain('--freeze-tower applies to CLIP (text-to-image) models');
    const type = cli('encode', '--model', backbone, '--input-type', 'text', 'x');
    expect(type.status).toBe(2);
    expect(type.stderr).toContain('--input-type applies to CLIP (text-to-image) models');
    const wise = cli('fit', '--model', clip, '--train-data', 'pairs-clip.csv', '--output-dir', join(dir, 'oc3'), '--wise-ft', '2');
    expect(wise.status).toBe(2);
    expect(wise.stderr).toContain("option --wise-ft must be a number in [0, 1], got '2'");
  });
});

describe('finetuner CLI, last', () => {
  it('info prints the LibTorch versions and the binary that loaded', () => {
    const run = cli('info');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^LibTorch +built against \d+\.\d+/m);
    expect(run.stdout).toMatch(/^native binary +.*finetuner\.node/m);
  });
});

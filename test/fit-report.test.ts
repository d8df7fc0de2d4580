// Issue 11 wired into fit(), evaluate() and the CLI, on a tiny random-init BERT: scored-pair evaluation
// (Spearman and Pearson of the cosines, against scipy on the same embeddings), the training report a fit
// with outputDir writes (opened in headless Chromium), the sampler option and the class sampler's batch
// size adjustment (fit's warnings, the CLI's stderr).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWordnetPairs, type WordnetPair } from '../examples/data/wordnet.js';
import { writeBertTokenizer } from '../examples/tokenizers/wordpiece.js';
import { BestModelCheckpoint, evaluate, fit, isSimilarityMetrics, loadModel, type FitProgress, type SimilarityMetrics } from '../lib/index.js';
import { SAMPLER_NAMES, SAMPLERS } from '../lib/data/batchSamplers.js';
import { chartPixels, CHROMIUM, screenshot } from './helpers/chromium.js';
import { PYTHON, random, REPO_ROOT, tempDir } from './helpers/fixtures.js';

const work = tempDir('fit-report');
afterAll(() => work.cleanup());
let bert: string;
let pairs: WordnetPair[];

/** Scored pairs: a definition with its own word, or another's, scored in quarters (so scores tie). */
function scoredPairs(from: WordnetPair[], seed: number) {
  const rand = random(seed);
  return from.map((p, i) => {
    const score = Math.floor(rand() * 5) / 4;
    return { a: p.query, b: score >= 0.5 ? p.document : from[(i + 7) % from.length]!.document, score };
  });
}

const csvCell = (text: string) => (/[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);

beforeAll(async () => {
  pairs = await readWordnetPairs({ seed: 3, limit: 160 });
  const tokenizer = join(work.dir, 'tokenizer.json');
  await writeBertTokenizer(tokenizer, pairs.flatMap((p) => [p.query, p.document]), { vocabSize: 1200, lowercase: true });
  bert = join(work.dir, 'bert');
  execFileSync(PYTHON, [join(REPO_ROOT, 'scripts', 'export_torchscript'), 'bert-base-cased', '--out', bert, '--size', 'tiny', '--random-init', '--tokenizer', tokenizer], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}, 120_000);

describe('scored pairs: spearman and pearson of the cosines', () => {
  it('equal scipy.stats on the same embeddings, ties in the scores included', async () => {
    const data = scoredPairs(pairs.slice(0, 60), 1);
    const model = await loadModel(bert, { precision: 'fp32', device: 'cpu', outputDim: 16 });
    try {
      const result = await evaluate(model, { queries: data });
      expect(isSimilarityMetrics(result)).toBe(true);
      const ours = result as SimilarityMetrics;
      expect(ours.pairs).toBe(60);
      const first = await model.encode(data.map((p) => p.a));
      const second = await model.encode(data.map((p) => p.b));
      const prefix = join(work.dir, 'scored');
      writeFileSync(`${prefix}-a.bin`, first.data);
      writeFileSync(`${prefix}-b.bin`, second.data);
      writeFileSync(`${prefix}-scores.json`, JSON.stringify(data.map((p) => p.score)));
      const scipy = JSON.parse(execFileSync(PYTHON, ['-c', `
import sys, json, numpy as np
from scipy import stats
p, dim = sys.argv[1], int(sys.argv[2])
a = np.fromfile(p + "-a.bin", dtype=np.float32).reshape(-1, dim).astype(np.float64)
b = np.fromfile(p + "-b.bin", dtype=np.float32).reshape(-1, dim).astype(np.float64)
scores = np.array(json.load(open(p + "-scores.json")))
cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
print(json.dumps({"spearman": stats.spearmanr(scores, cos)[0], "pearson": stats.pearsonr(scores, cos)[0]}))
`, prefix, String(first.dim)], { encoding: 'utf8' }));
      expect(Math.abs(ours.spearman - scipy.spearman), `ours ${ours.spearman}, scipy ${scipy.spearman}`).toBeLessThan(1e-6);
      expect(Math.abs(ours.pearson - scipy.pearson), `ours ${ours.pearson}, scipy ${scipy.pearson}`).toBeLessThan(1e-6);
      await expect(evaluate(model, { queries: data, index: data })).rejects.toThrow(/'index' does not apply to scored pairs/);
    } finally {
      model.dispose();
    }
  });
});

describe('fit', () => {
  it('with scored evalData and outputDir: spearman and pearson before and per epoch, and report.html that Chromium draws', async () => {
    const out = join(work.dir, 'tuned');
    const events: FitProgress[] = [];
    const result = await fit({
      model: bert,
      trainData: scoredPairs(pairs.slice(0, 64), 2),
      evalData: scoredPairs(pairs.slice(100, 140), 3),
      epochs: 2,
      batchSize: 16,
      learningRate: 1e-3,
      outputDim: 16,
      device: 'cpu',
      outputDir: out,
      onProgress: (event) => events.push(event),
    });
    try {
      for (const evaluation of [result.evalBefore, ...result.history.map((r) => r.eval)]) {
        expect(evaluation && isSimilarityMetrics(evaluation)).toBe(true);
        const m = evaluation as SimilarityMetrics;
        expect(m.pairs).toBe(40);
        expect(Math.abs(m.spearman)).toBeLessThanOrEqual(1);
        expect(Math.abs(m.pearson)).toBeLessThanOrEqual(1);
      }
      expect(events.filter((e) => e.phase === 'eval' && e.epoch === -1).length).toBeGreaterThan(0);
      expect(result.warnings).toEqual([]);

      // Written into the staged folder and swapped in with the model: nothing of the staging is left.
      expect(result.report).toBe(join(out, 'report.html'));
      expect(readdirSync(out).sort()).toEqual(['finetuner.json', 'model.pt', 'report.html', 'tokenizer.json']);
      expect(readdirSync(work.dir).filter((name) => name.includes('finetuner-staging'))).toEqual([]);
      const html = readFileSync(result.report!, 'utf8');
      expect(html).not.toMatch(/<script|(src|href)=["']?(https?:)?\/\//i);
      expect(html).toContain('CosineSimilarityLoss');
      expect(html).toMatch(/<td>spearman<\/td><td class="num">[-\d.e]+<\/td><td class="num">[-\d.e]+<\/td>/); // before, after
      // One path per series: loss, learning rate, spearman and pearson, mean loss; the loss curve has a point per step.
      expect(html.match(/<path class="series"/g)).toHaveLength(5);
      const lossPath = /<path class="series" d="([^"]+)"[^>]*><title>loss<\/title>/.exec(html)![1]!;
      expect(lossPath.match(/[ML]/g)).toHaveLength(result.history.reduce((n, r) => n + r.steps, 0));
      expect(html).toMatch(/throughput<b>[\d.]+ examples\/s/);

      if (!CHROMIUM) {
        console.warn('fit-report.test.ts: browser check skipped: Debian chromium is not installed (scripts/setup.sh installs it)');
        return;
      }
      const shot = screenshot(result.report!, work.dir, 'fit-report');
      expect(shot.console).toEqual([]);
      const drawn = await chartPixels(shot.png);
      console.log(`fit-report: ${drawn} pixels in the chart colours`);
      expect(drawn, `pixels in the chart colours: ${drawn}`).toBeGreaterThan(2000);
    } finally {
      result.model.dispose();
    }
  }, 180_000);

  it('with BestModelCheckpoint on scored pairs: monitors spearman, and the report beside the kept model names its epoch', async () => {
    const out = join(work.dir, 'kept');
    const best = new BestModelCheckpoint();
    const result = await fit({
      model: bert, trainData: scoredPairs(pairs.slice(0, 32), 5), evalData: scoredPairs(pairs.slice(100, 130), 6),
      epochs: 3, batchSize: 16, learningRate: 1e-3, device: 'cpu', outputDir: out, callbacks: [best],
    });
    try {
      expect(result.kept?.monitor).toBe('eval.spearman');
      const spearmans = result.history.map((r) => (r.eval as SimilarityMetrics).spearman);
      expect(result.kept!.value).toBe(Math.max(...spearmans));
      const html = readFileSync(join(out, 'report.html'), 'utf8');
      expect(html).toContain(`kept<b>epoch ${result.kept!.epoch + 1} (eval.spearman `);
      // "after" is the kept epoch's spearman, not the last epoch's.
      const after = new RegExp('<td>spearman</td><td class="num">[^<]+</td><td class="num">([^<]+)</td>').exec(html)![1]!;
      expect(Number(after)).toBeCloseTo(result.kept!.value, 2);
    } finally {
      result.model.dispose();
    }
  }, 120_000);

  it("adjusts a batch size the class sampler cannot fill, and says so in a 'warning' event and the result", async () => {
    const labelled = pairs.slice(0, 24).flatMap((p, i) => [{ text: p.query, label: `s${i % 6}` }, { text: p.document, label: `s${i % 6}` }]);
    const warnings: string[] = [];
    const result = await fit({
      model: bert,
      trainData: labelled,
      epochs: 1,
      batchSize: 10,
      numItemsPerClass: 4,
      device: 'cpu',
      onProgress: (event) => event.phase === 'warning' && warnings.push(event.message),
    });
    result.model.dispose();
    const message = '`batchSize` 10 is not a multiple of `numItemsPerClass` 4: batches of 8 (2 classes x 4 items)';
    expect(result.warnings).toEqual([message]);
    expect(warnings).toEqual([message]);
    expect(result.history[0]!.steps).toBe(48 / 8); // not ceil(48 / 10)
  }, 60_000);

  it("takes the sampler option: 'auto' keeps a query's pairs apart, 'random' does not; 'class' needs labels", async () => {
    // 4 queries with 4 documents each: without duplicates, a batch holds at most 4 pairs.
    const grouped = pairs.slice(0, 16).map((p, i) => ({ query: pairs[i % 4]!.query, document: p.document }));
    const steps = async (sampler?: 'random' | 'no-duplicates') => {
      const result = await fit({ model: bert, trainData: grouped, epochs: 1, batchSize: 8, device: 'cpu', ...(sampler ? { sampler } : {}) });
      result.model.dispose();
      return result.history[0]!.steps;
    };
    expect(await steps()).toBe(4);
    expect(await steps('no-duplicates')).toBe(4);
    expect(await steps('random')).toBe(2);
    await expect(fit({ model: bert, trainData: grouped, sampler: 'class' })).rejects.toThrow(/'sampler' is 'class', but query-document pairs have no labels/);
    await expect(fit({ model: bert, trainData: grouped, sampler: 'shuffle' as 'random' })).rejects.toThrow(
      /option 'sampler' must be one of auto, class, no-duplicates, random, got "shuffle"/,
    );
  }, 60_000);
});

describe('the CLI', () => {
  const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
  const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: work.dir, encoding: 'utf8', timeout: 120_000 });

  beforeAll(() => {
    // The CLI runs compiled: build the library as test/cli.test.ts does, unless a source changed since.
    const built = existsSync(CLI) ? statSync(CLI).mtimeMs : 0;
    const sources = readdirSync(join(REPO_ROOT, 'lib'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    if (sources.some((f) => statSync(join(REPO_ROOT, 'lib', f)).mtimeMs > built)) {
      const tsc = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: REPO_ROOT, encoding: 'utf8' });
      if (tsc.status !== 0 || !existsSync(CLI)) throw new Error(`tsc failed:\n${tsc.stdout}${tsc.stderr}`);
    }
    const labelled = pairs.slice(0, 24).flatMap((p, i) => [[p.query, `s${i % 6}`], [p.document, `s${i % 6}`]]);
    writeFileSync(join(work.dir, 'labelled.csv'), `text,label\n${labelled.map((row) => row.map(csvCell).join(',')).join('\n')}\n`);
    const scored = scoredPairs(pairs.slice(100, 130), 4);
    writeFileSync(join(work.dir, 'scored.csv'), `text1,text2,score\n${scored.map((p) => [csvCell(p.a), csvCell(p.b), p.score].join(',')).join('\n')}\n`);
  }, 120_000);

  it('fit --help lists every sampler from the one list, with --sampler', () => {
    const help = cli('fit', '--help');
    expect(help.status).toBe(0);
    for (const name of SAMPLER_NAMES) expect(help.stdout).toContain(`  ${name.padEnd(13)}  ${SAMPLERS[name]}`);
    expect(help.stdout).toMatch(/--sampler S +how batches are drawn: auto, class, no-duplicates, random .*\(default: auto\)/);
  });

  it('fit prints the batch size adjustment on stderr, spearman before and per epoch, and the report path; eval scores the pairs', async () => {
    const out = join(work.dir, 'cli-tuned');
    const run = cli(
      'fit', '--model', bert, '--train-data', 'labelled.csv', '--eval-data', 'scored.csv', '--output-dir', out,
      '--epochs', '1', '--batch-size', '10', '--num-items-per-class', '4', '--device', 'cpu',
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toContain('warning: --batch-size 10 is not a multiple of --num-items-per-class 4: batches of 8 (2 classes x 4 items)');
    expect(run.stdout).toMatch(/^epoch +\| +loss \| examples \| steps \| seconds \| +spearman \| +pearson$/m);
    expect(run.stdout).toMatch(/^before training: eval spearman -?[\d.]+, pearson -?[\d.]+$/m);
    expect(run.stdout).toMatch(/^ +1 \| +[\d.]+ \| +[\d.]+ \| +6 \|/m);
    expect(run.stdout).toContain(`training report: ${join(out, 'report.html')}`);
    expect(existsSync(join(out, 'report.html'))).toBe(true);

    const json = cli('eval', '--model', out, '--queries', 'scored.csv', '--json', '--device', 'cpu');
    expect(json.status, json.stderr).toBe(0);
    const metrics = JSON.parse(json.stdout);
    const model = await loadModel(out, { precision: 'fp32', device: 'cpu' });
    try {
      const direct = (await evaluate(model, { queries: join(work.dir, 'scored.csv') })) as SimilarityMetrics;
      expect(metrics).toEqual({ spearman: expect.closeTo(direct.spearman, 6), pearson: expect.closeTo(direct.pearson, 6), pairs: 30 });
    } finally {
      model.dispose();
    }
    const table = cli('eval', '--model', out, '--queries', 'scored.csv', '--device', 'cpu');
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^Similarity of .*\(cosine against the pairs' scores\)$/m);
    expect(table.stdout).toMatch(/^spearman +\| +-?[\d.]+$/m);
    expect(table.stdout).toMatch(/^pairs +\| +30$/m);
    const index = cli('eval', '--model', out, '--queries', 'scored.csv', '--index', 'scored.csv', '--device', 'cpu');
    expect(index.status).toBe(1);
    expect(index.stderr).toContain("--index does not apply to scored pairs");
  }, 180_000);
});

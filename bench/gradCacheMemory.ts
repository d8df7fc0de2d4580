// How large a batch CachedMultipleNegativesRankingLoss (GradCache) trains in the memory the plain
// MultipleNegativesRankingLoss needs: one training step per child process, its peak resident memory
// (getrusage maxrss) for each loss and batch size, on a tiny random-init BERT with 128-token texts (the
// activations grow with batch x length; the weights are small). Not part of `npm run bench`:
//   node dist-tools/bench/gradCacheMemory.js [--out DIR]
// prints a table of loss, batch, peak MB and step seconds.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBertTokenizer } from '../examples/tokenizers/wordpiece.js';
import { loadModel } from '../lib/loadModel.js';

const LENGTH = 128;
const WORDS = ['red', 'blue', 'green', 'small', 'large', 'sea', 'hill', 'town', 'wood', 'stone', 'river', 'light'];

/** A text of about LENGTH tokens, different per row. */
function text(row: number): string {
  return Array.from({ length: LENGTH }, (_, i) => WORDS[(row * 7 + i * 5 + (i * i) % 11) % WORDS.length]).join(' ');
}

/** Child: one step of `loss` on `batch` pairs; prints peak RSS in MB and the step's seconds. */
async function step(modelDir: string, loss: string, batch: number, miniBatch: number): Promise<void> {
  const model = await loadModel(modelDir, { device: 'cpu', maxLength: LENGTH });
  model.nativeModel.configureTraining({ optimizer: 'sgd', learningRate: 1e-3, weightDecay: 0, momentum: 0, freeze: 'none' });
  const queries = model.tokenize(Array.from({ length: batch }, (_, i) => text(i)));
  const documents = model.tokenize(Array.from({ length: batch }, (_, i) => text(i + batch)));
  const options: Record<string, number> = loss === 'CachedMultipleNegativesRankingLoss' ? { scale: 20, miniBatchSize: miniBatch } : { scale: 20 };
  const started = performance.now();
  await model.nativeModel.trainStep([queries, documents], Int32Array.from({ length: batch }, (_, i) => i), loss, options);
  const seconds = (performance.now() - started) / 1000;
  model.dispose();
  console.log(JSON.stringify({ peakMb: process.resourceUsage().maxRSS / 1024, seconds }));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--step') return step(args[1]!, args[2]!, Number(args[3]), Number(args[4]));
  const work = mkdtempSync(join(tmpdir(), 'finetuner-gradcache-'));
  try {
    const tokenizer = join(work, 'tokenizer.json');
    await writeBertTokenizer(tokenizer, Array.from({ length: 64 }, (_, i) => text(i)), { vocabSize: 200, lowercase: true });
    const modelDir = join(work, 'bert');
    const root = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
    execFileSync('/usr/bin/python3', [join(root, 'scripts', 'export_torchscript'), 'bert-base-cased', '--out', modelDir, '--size', 'tiny', '--random-init', '--tokenizer', tokenizer], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const runs: Array<[string, number]> = [
      ['MultipleNegativesRankingLoss', 32],
      ['MultipleNegativesRankingLoss', 128],
      ['MultipleNegativesRankingLoss', 512],
      ['CachedMultipleNegativesRankingLoss', 32],
      ['CachedMultipleNegativesRankingLoss', 512],
      ['CachedMultipleNegativesRankingLoss', 2048],
      ['CachedMultipleNegativesRankingLoss', 8192],
    ];
    const miniBatch = 32;
    console.log(`tiny BERT (2 layers, hidden 32), ${LENGTH}-token texts, one step, peak RSS of a child process; cached: miniBatchSize ${miniBatch}`);
    for (const [loss, batch] of runs) {
      const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--step', modelDir, loss, String(batch), String(miniBatch)], { encoding: 'utf8' });
      if (child.status !== 0) throw new Error(`${loss} batch ${batch}: ${child.stderr}`);
      const { peakMb, seconds } = JSON.parse(child.stdout.trim().split('\n').pop()!) as { peakMb: number; seconds: number };
      console.log(`${loss.padEnd(36)} batch ${String(batch).padStart(5)}: peak ${peakMb.toFixed(0).padStart(6)} MB, step ${seconds.toFixed(2)} s`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();

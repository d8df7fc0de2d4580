// bert-base-cased at full size (random weights) on the CPU, batch 32 of 128-token texts: encode
// sentences/s (model.encode(texts), tokenization included) and MultipleNegativesRankingLoss training
// steps/s (32 query/document pairs) of the addon, against the same module in PyTorch eager
// (scripts/bench/bert_eager.py: our BERT definition, not scripted, with the exported weights). Also
// times tokenization on its own, for its share of the encode time.

import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { NativeTrainOptions } from '../lib/binding.js';
import { readWordnetPairs } from '../examples/data/wordnet.js';
import { exportModel } from '../lib/export.js';
import { readMetadata } from '../lib/metadata.js';
import { loadModel } from '../lib/loadModel.js';
import type { EmbeddingModel } from '../lib/model.js';
import type { EncodedBatch } from '../lib/text/tokenizer.js';
import { writeBertTokenizer } from '../examples/tokenizers/wordpiece.js';
import { PythonPeer } from './pythonPeer.js';
import { pythonCpu, seconds, type ModelBenchSettings, type PreparedBench } from './shared.js';
import { cpuNow, cpuSince, median, type Comparison, type ComparisonResult } from './sideBySide.js';

export const BERT_MODEL = 'bert-base-cased';
export const BERT_ROWS = 32;
export const BERT_LENGTH = 128;
/** bert-base-cased's vocabulary: the tokenizer built here may have fewer tokens, never more. */
const MODEL_VOCAB = 28996;
export const TRAINING: NativeTrainOptions = {
  optimizer: 'adam',
  learningRate: 2e-5,
  weightDecay: 0,
  momentum: 0.9,
  freeze: 'none',
};
/** MultipleNegativesRankingLoss's options (the library's defaults), for the addon and the Python peer. */
export const LOSS_OPTIONS = { scale: 20 };
/** Untimed tokenizations of the batch in each addon encode measurement, for the tokenization share. */
const TOKENIZE_REPS = 5;

/**
 * Defaults: on 2 cores an encode of the batch takes ~5-6 s and a training step (two forwards and a
 * backward at 32 x 128) ~40 s when the machine is idle, so training gets fewer rounds than encoding.
 */
export const BERT_DEFAULTS = {
  encodeRounds: (quick: boolean) => (quick ? 2 : 5),
  trainRounds: (quick: boolean) => (quick ? 1 : 3),
  trainSteps: () => 1,
  encodeReps: () => 1,
};

/** WordNet definitions in a fixed shuffled order (all parts of speech). */
export async function glosses(): Promise<string[]> {
  const pairs = await readWordnetPairs({ pos: ['noun', 'verb', 'adj', 'adv'], seed: 11, minGlossWords: 1, skipSelfReference: false });
  const seen = new Set<string>();
  return pairs.map((p) => p.query).filter((g) => !seen.has(g) && seen.add(g));
}

/** A cased WordPiece tokenizer over WordNet glosses and words, and bert-base-cased exported with it. */
export async function exportedModel(cache: string, log: (message: string) => void, corpus: string[]): Promise<string> {
  const dir = join(cache, `${BERT_MODEL}-full-random`);
  if (existsSync(join(dir, 'finetuner.json'))) {
    try {
      const meta = await readMetadata(dir);
      if ('text' in meta && meta.text.tokenizer) return dir;
    } catch {
      // stale or partial: export again
    }
  }
  const tokenizerFile = join(cache, `${BERT_MODEL}-wordnet-tokenizer.json`);
  log(`building a cased WordPiece tokenizer (up to ${MODEL_VOCAB} tokens) from ${corpus.length} WordNet glosses`);
  const vocab = await writeBertTokenizer(tokenizerFile, corpus, { vocabSize: MODEL_VOCAB, lowercase: false });
  log(`exporting ${BERT_MODEL} (full size, random init, ${vocab.length}-token tokenizer) to ${dir}`);
  await exportModel(BERT_MODEL, { outDir: dir, randomInit: true, tokenizer: tokenizerFile });
  return dir;
}

/**
 * `count` texts, each made of consecutive glosses joined until it is longer than the model's maxLength,
 * so that each tokenizes to exactly maxLength tokens after truncation.
 */
export function longTexts(model: EmbeddingModel, corpus: readonly string[], start: number, count: number): { texts: string[]; next: number } {
  const texts: string[] = [];
  let next = start;
  while (texts.length < count) {
    let text = '';
    do {
      if (next >= corpus.length) throw new Error('bench: not enough WordNet glosses to build the texts');
      text = text ? `${text} ${corpus[next++]!}.` : `${corpus[next++]!}.`;
    } while (model.tokenizer.encode([text]).truncated === 0);
    texts.push(text);
  }
  return { texts, next };
}

export function checkShape(batch: EncodedBatch, what: string): void {
  const short = batch.lengths.findIndex((n) => n !== BERT_LENGTH);
  if (batch.rows !== BERT_ROWS || batch.length !== BERT_LENGTH || short >= 0) {
    throw new Error(`bench: the ${what} batch is ${batch.rows} x ${batch.length}${short >= 0 ? ` (row ${short} has ${batch.lengths[short]} tokens)` : ''}, expected ${BERT_ROWS} x ${BERT_LENGTH}`);
  }
}

export async function prepareBertBench(s: ModelBenchSettings & { encodeRounds: number; trainRounds: number }): Promise<PreparedBench> {
  const corpus = await glosses();
  const modelDir = await exportedModel(s.cache, s.log, corpus);

  s.log(`loading ${modelDir} in the addon (${s.threads} threads, maxLength ${BERT_LENGTH})`);
  const model = await loadModel(modelDir, { device: 'cpu', maxLength: BERT_LENGTH });
  let peer: PythonPeer | undefined;
  const killPeer = () => peer?.kill();
  try {
    const native = model.nativeModel;
    native.configureTraining(TRAINING);

    const queries = longTexts(model, corpus, 0, BERT_ROWS);
    const documents = longTexts(model, corpus, queries.next, BERT_ROWS).texts;
    const queryTexts = queries.texts;
    const queryBatch = model.tokenize(queryTexts);
    const documentBatch = model.tokenize(documents);
    checkShape(queryBatch, 'query');
    checkShape(documentBatch, 'document');
    const groups = Int32Array.from({ length: BERT_ROWS }, (_, i) => i);
    const tokensFile = join(s.cache, `bert-tokens-${BERT_ROWS}x${BERT_LENGTH}.bin`);
    const tokens = new Int32Array(6 * BERT_ROWS * BERT_LENGTH);
    [queryBatch.inputIds, queryBatch.attentionMask, queryBatch.tokenTypeIds, documentBatch.inputIds, documentBatch.attentionMask, documentBatch.tokenTypeIds].forEach(
      (a, i) => tokens.set(a, i * BERT_ROWS * BERT_LENGTH),
    );
    await writeFile(tokensFile, new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength));

    s.log(`starting the python worker for ${BERT_MODEL} (${s.threads} threads)`);
    peer = await PythonPeer.start({
      script: 'bert_eager.py',
      args: [
        '--model-dir', modelDir,
        '--tokens', tokensFile,
        '--rows', String(BERT_ROWS),
        '--length', String(BERT_LENGTH),
        '--threads', String(s.threads),
        '--lr', String(TRAINING.learningRate),
        '--scale', String(LOSS_OPTIONS.scale),
      ],
    });
    const python = peer;
    process.once('exit', killPeer);
    if (python.info.threads !== s.threads) {
      s.log(`warning: the python worker reports torch.get_num_threads() = ${String(python.info.threads)}, not ${s.threads}`);
    }

    const { trainSteps, encodeReps, quick } = s;
    // Same weights, same ids: the embeddings of the two sides must agree before anything is timed. These
    // first encodes are warm-ups too (the addon's freezes and optimises its inference module).
    let agreement: { maxAbsDiff: number; addonSeconds: number; pythonSeconds: number } | undefined;
    const tokenizeSeconds: number[] = [];
    const encode: Comparison = {
      id: 'bert-base-encode',
      title: `bert-base encode (batch ${BERT_ROWS} x ${BERT_LENGTH})`,
      unit: 'sentences/s',
      a: {
        label: 'addon',
        // After the agreement check: TorchScript's profiling run, then its first optimised run.
        warmUp: quick ? 1 : 2,
        async measure() {
          for (let i = 0; i < TOKENIZE_REPS; i++) {
            const t = performance.now();
            model.tokenize(queryTexts);
            tokenizeSeconds.push((performance.now() - t) / 1000);
          }
          const before = cpuNow();
          const t0 = performance.now();
          for (let i = 0; i < encodeReps; i++) await model.encode(queryTexts);
          return { seconds: (performance.now() - t0) / 1000, units: encodeReps * BERT_ROWS, cpu: cpuSince(before) };
        },
      },
      b: {
        label: 'python',
        warmUp: 0,
        async measure() {
          const response = await python.request({ cmd: 'encode', reps: encodeReps });
          return { seconds: seconds(response), units: encodeReps * BERT_ROWS, cpu: pythonCpu(response) };
        },
      },
    };
    const train: Comparison = {
      id: 'bert-base-train',
      title: `bert-base train (batch ${BERT_ROWS} pairs x ${BERT_LENGTH})`,
      unit: 'steps/s',
      a: {
        label: 'addon',
        // One untimed step: Adam's state, and TorchScript's profiling run (measured: the first optimised
        // step is no slower than the later ones, as nothing fuses on the CPU).
        warmUp: 1,
        async measure() {
          const before = cpuNow();
          const t0 = performance.now();
          for (let i = 0; i < trainSteps; i++) await native.trainStep([queryBatch, documentBatch], groups, 'MultipleNegativesRankingLoss', LOSS_OPTIONS);
          return { seconds: (performance.now() - t0) / 1000, units: trainSteps, cpu: cpuSince(before) };
        },
      },
      b: {
        label: 'python',
        warmUp: 1,
        async measure() {
          const response = await python.request({ cmd: 'train', steps: trainSteps });
          return { seconds: seconds(response), units: trainSteps, cpu: pythonCpu(response) };
        },
      },
    };

    if (s.kinds.has('encode')) {
      s.log('checking that both sides compute the same embeddings');
      let t = performance.now();
      const addon = await model.encode(queryTexts);
      const addonSeconds = (performance.now() - t) / 1000;
      t = performance.now();
      const answer = await python.request({ cmd: 'encode', reps: 1, rows: BERT_ROWS });
      const head = answer.head as number[][];
      let maxAbsDiff = 0;
      head.forEach((row, r) => row.forEach((v, c) => (maxAbsDiff = Math.max(maxAbsDiff, Math.abs(v - addon.data[r * addon.dim + c]!)))));
      agreement = { maxAbsDiff, addonSeconds, pythonSeconds: seconds(answer) };
      s.log(`embeddings agree to ${maxAbsDiff.toExponential(2)} (max |addon - python| over ${BERT_ROWS} x ${addon.dim}); first encodes took addon ${addonSeconds.toFixed(2)} s, python ${agreement.pythonSeconds.toFixed(2)} s`);
      if (!(maxAbsDiff < 1e-3)) throw new Error(`bench: the addon's and Python's ${BERT_MODEL} embeddings differ by up to ${maxAbsDiff}: not the same computation`);
    }

    const phases: { comparisons: Comparison[]; rounds: number }[] = [];
    if (s.kinds.has('encode')) phases.push({ comparisons: [encode], rounds: s.encodeRounds });
    if (s.kinds.has('train')) phases.push({ comparisons: [train], rounds: s.trainRounds });
    const vocabSize = model.tokenizer.vocabSize;
    return {
      phases,
      settings: {
        model: `${BERT_MODEL} (full size, random init; tokenizer: ${vocabSize} WordPiece tokens from WordNet glosses)`,
        batch: `${BERT_ROWS} texts of ${BERT_LENGTH} tokens (WordNet glosses joined, truncated)`,
        encodeRounds: s.encodeRounds,
        trainRounds: s.trainRounds,
        trainStepsPerRound: trainSteps,
        encodeRepsPerRound: encodeReps,
        training: `MultipleNegativesRankingLoss scale ${LOSS_OPTIONS.scale}, ${BERT_ROWS} pairs (two ${BERT_ROWS} x ${BERT_LENGTH} batches), adam lr ${TRAINING.learningRate.toExponential()}, dropout on`,
        encode: 'addon: model.encode(texts), tokenization included; python: the same ids, inference_mode, eval',
      },
      python: python.info,
      finish(results: ComparisonResult[]) {
        const notes: string[] = [];
        const data: Record<string, unknown> = {};
        if (agreement) {
          notes.push(
            `${BERT_MODEL}: before timing, the two sides' embeddings of the batch agree to ${agreement.maxAbsDiff.toExponential(1)} ` +
              `(max |addon - python| over ${BERT_ROWS} x 768); first encode: addon ${agreement.addonSeconds.toFixed(2)} s ` +
              `(freezes and optimises the inference module), python ${agreement.pythonSeconds.toFixed(2)} s.`,
          );
          data.agreement = agreement;
        }
        const encoded = results.find((r) => r.id === encode.id);
        if (encoded && tokenizeSeconds.length > 0) {
          const perBatch = median(encoded.rounds.map((r) => r.a.seconds / encodeReps));
          const tokenize = median(tokenizeSeconds);
          const share = tokenize / perBatch;
          notes.push(
            `${BERT_MODEL} tokenization share of encode: ${(share * 100).toFixed(2)}% — tokenizing the ${BERT_ROWS} texts takes ` +
              `${(tokenize * 1000).toFixed(1)} ms (median of ${tokenizeSeconds.length}), model.encode(texts) ${perBatch.toFixed(2)} s per batch ` +
              `end to end (median of ${encoded.rounds.length} rounds), so compute is about ${(perBatch - tokenize).toFixed(2)} s.`,
          );
          data.tokenization = { secondsPerBatch: tokenize, encodeSecondsPerBatch: perBatch, share, samples: tokenizeSeconds };
        }
        return { notes, data };
      },
      async close() {
        model.dispose();
        await python.close();
        process.off('exit', killPeer);
      },
    };
  } catch (error) {
    model.dispose();
    if (peer) await peer.close().catch(() => undefined);
    process.off('exit', killPeer);
    throw error;
  }
}

// The range of every numeric option of loadModel, fit, evaluate and the batcher, written once: the library checks
// with it (lib/numericOption.ts) and the CLI parses its flags with it, so the two cannot drift. Loss
// options keep theirs in their descriptors (lib/losses/).
import {
  ANY_INTEGER, ANY_NUMBER, NON_NEGATIVE_INTEGER, NON_NEGATIVE_NUMBER, POSITIVE_INTEGER, POSITIVE_NUMBER, UNIT_INTERVAL, type NumberRange,
} from './numericOption.js';

/**
 * The largest image side: 4096 px is 48 MiB of pixels an image before a CNN's activations, which grow
 * with it (a tiny resnet50 at 20,000 px took 16.6 GB and a minute before failing).
 */
export const MAX_IMAGE_SIZE = 4096;

export const OPTION_RANGES = {
  // Loading (loadModel, and fit or the CLI when given a directory).
  outputDim: POSITIVE_INTEGER,
  imageSize: { integer: true, min: 1, max: MAX_IMAGE_SIZE },
  maxLength: POSITIVE_INTEGER,
  // Encoding and evaluation.
  batchSize: POSITIVE_INTEGER,
  k: POSITIVE_INTEGER,
  // Dynamic batching (model.batcher, lib/batcher.ts).
  maxBatchSize: POSITIVE_INTEGER,
  maxBatchTokens: POSITIVE_INTEGER,
  maxWaitMs: { min: 0, max: 60_000 },
  maxQueue: POSITIVE_INTEGER,
  // Search (lib/search.ts, lib/embeddingIndex.ts) and retrieval metrics: embedding width.
  dim: POSITIVE_INTEGER,
  // Training.
  epochs: POSITIVE_INTEGER,
  numItemsPerClass: POSITIVE_INTEGER,
  trainableLayers: POSITIVE_INTEGER,
  learningRate: POSITIVE_NUMBER,
  warmupSteps: NON_NEGATIVE_INTEGER,
  warmupRatio: { min: 0, max: 1, maxExclusive: true },
  restarts: POSITIVE_INTEGER,
  power: POSITIVE_NUMBER,
  endLearningRate: POSITIVE_NUMBER,
  weightDecay: NON_NEGATIVE_NUMBER,
  momentum: { min: 0, max: 1, maxExclusive: true },
  epsilon: POSITIVE_NUMBER,
  rmspropAlpha: { min: 0, max: 1, maxExclusive: true },
  layerDecay: { min: 0, minExclusive: true, max: 1 },
  maxGradNorm: POSITIVE_NUMBER,
  accumulateSteps: POSITIVE_INTEGER,
  wiseFt: UNIT_INTERVAL,
  seed: ANY_INTEGER,
  // Callbacks (lib/callbacks/).
  patience: POSITIVE_INTEGER,
  minDelta: ANY_NUMBER,
  baseline: ANY_NUMBER,
  everySteps: POSITIVE_INTEGER,
  keep: POSITIVE_INTEGER,
} as const satisfies Record<string, NumberRange>;

/** The server's numeric options (serve() and `finetuner serve`; described in lib/serve/options.ts). */
export const SERVE_RANGES = {
  port: { integer: true, min: 0, max: 65535 },
  maxBodyBytes: { integer: true, min: 1024 },
  maxInputs: POSITIVE_INTEGER,
  maxBatchSize: OPTION_RANGES.maxBatchSize,
  maxBatchTokens: OPTION_RANGES.maxBatchTokens,
  maxWaitMs: OPTION_RANGES.maxWaitMs,
  maxQueue: OPTION_RANGES.maxQueue,
} as const satisfies Record<string, NumberRange>;

// The raw native binding, typed by hand and kept apart from the public API (lib/index.ts). Everything
// here is flat and small: the facade in lib/model.ts turns it into idiomatic classes and options.
// Every method that does real work returns a promise and runs on a libuv worker thread.

import type { Optimizer } from './optimizers.js';

export type NativeDevice = 'cpu' | 'cuda';
/** 'text-image': a CLIP model, encoding both into one shared space. */
export type NativeModality = 'image' | 'text' | 'text-image';
/** Images: avg, max, gem. Text (over the attention mask): mean, max, cls. */
export type NativePooling = 'avg' | 'max' | 'gem' | 'mean' | 'cls';
/** The names lib/optimizers.ts lists (OPTIMIZERS); the native registry holds the same. */
export type NativeOptimizer = Optimizer;

export interface NativeRuntimeInfo {
  /** LibTorch version the addon was compiled against (TORCH_VERSION at build time). */
  builtAgainst: string;
  /** LibTorch version of the shared library loaded at run time. */
  runtime: string;
  cudaAvailable: boolean;
  cudaDeviceCount: number;
  /** Intra-op threads LibTorch uses for a forward/backward pass. */
  threads: number;
  /** Losses registered in this build (native/losses/), sorted. */
  losses: string[];
  /** Miners registered in this build (native/miners/), sorted. */
  miners: string[];
  /** Optimizers of this build (native/optimizer_factory.cc), sorted. */
  optimizers: string[];
  /** The most setNumThreads accepts (1024). */
  maxThreads: number;
  /**
   * The caching CPU allocator's counters (native/caching_cpu_allocator.h): freed blocks of 1 MiB or more
   * kept for reuse, up to FINETUNER_CPU_CACHE_MB (default 2048). null when that variable is 0.
   */
  cpuCache: { capBytes: number; cachedBytes: number; liveBytes: number; hits: number; misses: number } | null;
}

/** Options to build an embedding model from an exported backbone (model.pt + finetuner.json). */
export interface NativeBuildOptions {
  device: NativeDevice;
  modality: NativeModality;
  /** Images: names of the backbone's direct children that form the trunk, run in this order. */
  trunk?: string[];
  /** Ignored for 'text-image' (CLIP's towers pool by themselves). */
  pooling: NativePooling;
  /** Images: initial GeM exponent (learnable), used when pooling is 'gem'. */
  gemP?: number;
  /** Width of the pooled trunk output. */
  embeddingDim: number;
  /** 0: no projection head; otherwise a linear layer embeddingDim -> outputDim. */
  outputDim: number;
  normalize: boolean;
  /** Images and CLIP: per-channel normalisation applied in C++ to uint8 HWC pixels. */
  mean?: number[];
  std?: number[];
  /** Seed for the projection head's initialisation. */
  seed: number;
}

export interface NativeLoadOptions {
  device: NativeDevice;
}

export interface NativeTrainOptions {
  optimizer: NativeOptimizer;
  learningRate: number;
  weightDecay: number;
  /** SGD and RMSprop. */
  momentum: number;
  /** Adam, AdamW, RMSprop, Adagrad; default the optimizer's (1e-8; Adagrad 1e-10). */
  epsilon?: number;
  /** RMSprop's smoothing constant, in [0, 1). Default 0.99. */
  rmspropAlpha?: number;
  /** Default false: biases and normalisation weights (parameters under 2 dimensions, names with bias or norm) get no weight decay. */
  decayBiasesAndNorms?: boolean;
  /** Layer-wise learning-rate decay of a transformer text model, in (0, 1]; default 1 (off). */
  layerDecay?: number;
  /** Clip the total gradient norm to this before each optimizer step; default 0 (off). */
  maxGradNorm?: number;
  /** Seeds this model's training generator (dropout); an integer. Default: LibTorch's global generator. */
  seed?: number;
  /**
   * 'none' trains everything; 'trunk' freezes the backbone trunk (projection and GeM still train);
   * CLIP models: 'image' or 'text' freezes that tower (the other and the temperature train).
   */
  freeze: 'none' | 'trunk' | 'image' | 'text';
  /** Keep a copy of the weights before the first step, for interpolateWeights (WiSE-FT). */
  keepInitialWeights?: boolean;
  /** With freeze 'trunk' on a transformer: the top N layers still train (0: all frozen). */
  trainableLayers?: number;
  /** Parameter-name prefix of the transformer's layers inside the backbone, e.g. 'encoder.layer.'. */
  layerPrefix?: string;
  numLayers?: number;
}

export interface NativeTrainStepResult {
  loss: number;
  /** Examples that contributed: mined triplets, or pairs for the pair losses. */
  examples: number;
  /** When the optimizer stepped: the total gradient norm before clipping. */
  gradNorm?: number;
  /** Distributed steps: seconds in collectives (the gathers, their backward, the gradient all-reduce). */
  communicationSeconds?: number;
  /** Distributed steps that updated: seconds in the all-reduce of the gradients. */
  allReduceSeconds?: number;
}

/** Gradient accumulation: how a step's gradient counts, and whether the optimizer steps after it. */
export interface NativeStepOptions {
  /** The loss is multiplied by this before backward (1 / steps per update). Default 1. */
  lossScale?: number;
  /** false: only add this step's gradients; true (default): then step the optimizer and start afresh. */
  update?: boolean;
  /**
   * Data parallel (lib/distributed/): the loss sees every rank's rows (gathered with their gradients),
   * targets included, and the gradients are averaged across the ranks before the optimizer steps.
   */
  group?: NativeProcessGroup;
}

/** Joining settings of joinProcessGroup (lib/distributed/processGroup.ts reads them from the environment). */
export interface NativeJoinOptions {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  /** 'gloo' (CPU) or 'nccl' (CUDA; only where LibTorch was built with NCCL). */
  backend: 'gloo' | 'nccl';
  /** How long joining waits for every rank (the rendezvous at masterAddr:masterPort). */
  joinTimeoutMs: number;
  /** How long one collective waits for the others before it fails. */
  timeoutMs: number;
}

/** A joined c10d process group (native/distributed/). Every rank must call the same collectives in the same order. */
export interface NativeProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly closed: boolean;
  /** Resolves once every rank has reached it; `what` names it in errors. */
  barrier(what?: string): Promise<number[]>;
  /** The elementwise maximum of every rank's `values` (agreeing on flags such as "stop"). */
  agree(values: number[], what?: string): Promise<number[]>;
  /** Releases the group; safe twice. */
  close(): Promise<number[]>;
}

/** One parameter group of the optimizer (weight decay and layer decay make several). */
export interface NativeParameterGroup {
  learningRate: number;
  weightDecay: number;
  /** The parameters' names in the module. */
  parameters: string[];
}

export interface NativeImageBatch {
  /** uint8 pixels, NHWC, RGB, contiguous: rows * height * width * 3 bytes. Copied when the call is made. */
  pixels: Uint8Array;
  rows: number;
  height: number;
  width: number;
}

/** Token ids of a text batch, padded to `length`; int32, row-major, copied when the call is made. */
export interface NativeTokenBatch {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  tokenTypeIds: Int32Array;
  rows: number;
  length: number;
}

export type NativeBatch = NativeImageBatch | NativeTokenBatch;

/** The native class NativeEmbeddingModel (native/embedding_model.cc), wrapped by lib/model.ts's EmbeddingModel. */
export interface NativeEmbeddingModel {
  readonly device: NativeDevice;
  readonly modality: NativeModality;
  readonly outputDim: number;
  /** Encodes a batch of the model's modality (either, for CLIP); resolves to rows * outputDim floats. */
  encode(batch: NativeBatch): Promise<Float32Array>;
  /** Sets up the optimizer; must be called before trainStep. Safe to call again to change options. */
  configureTraining(options: NativeTrainOptions): void;
  /** Sets every parameter group to learningRate x its scale (layer decay), keeping the optimizer's state. */
  setLearningRate(learningRate: number): void;
  /**
   * One forward of every batch, the loss, backward and optimizer step. `batches` come in the order the
   * loss takes them (its descriptor's `inputs` in lib/losses/), each with the same rows, and are not copied (do not change them until the promise settles); `targets` (one per row:
   * labels or group ids as an Int32Array, scores as a Float32Array) are copied. `loss` is a name the
   * native registry holds (NativeRuntimeInfo.losses) and `lossOptions` its options (numbers, strings
   * and arrays of numbers; defaults apply to those left out, and an option the loss does not take is an
   * error). The loss is built once and kept while the name and options stay the same. `step` accumulates
   * gradients over several calls: each scales its loss by `lossScale`, and the optimizer steps (clipping
   * first, with maxGradNorm) on the call with `update` true.
   */
  trainStep(
    batches: NativeBatch[], targets: Int32Array | Float32Array, loss: string, lossOptions?: NativeLossOptions, step?: NativeStepOptions,
  ): Promise<NativeTrainStepResult>;
  /** The optimizer's parameter groups now, with their learning rates (needs configureTraining). */
  parameterGroups(): NativeParameterGroup[];
  /** WiSE-FT: weights = (1 - alpha) * before training + alpha * now. Needs keepInitialWeights. */
  interpolateWeights(alpha: number): Promise<void>;
  /** CLIP models: the learned log inverse temperature (logit_scale). */
  logitScale(): number;
  /** Autocast precision of every later encode and training forward; weights stay float32. */
  setPrecision(precision: 'fp32' | 'bf16' | 'fp16' | 'int8'): void;
  readonly precision: 'fp32' | 'bf16' | 'fp16' | 'int8';
  /** Writes a self-contained TorchScript embedding model to `path` (temporary name, then rename). */
  save(path: string): Promise<void>;
  /**
   * Writes what a resumed run needs besides the weights (optimizer state, loss parameters, the CPU
   * generator's state, WiSE-FT's initial weights) to `path`; after configureTraining.
   */
  saveTrainingState(path: string): Promise<void>;
  /**
   * Restores saveTrainingState's file into a model configured the same way, training with `loss` and
   * `lossOptions` (a loss with parameters of its own, ArcFace's, is built first: their optimizer group
   * is part of the state); rejects naming a mismatch.
   */
  loadTrainingState(path: string, loss: string, lossOptions?: NativeLossOptions): Promise<void>;
  /** Number of parameters: all, and those that currently require gradients. */
  parameterCount(): { total: number; trainable: number };
  dispose(): void;
  readonly disposed: boolean;
}

/** A loss's options as they cross: numbers, strings, and lists of numbers (matryoshkaDims). */
export type NativeLossOptions = Record<string, number | string | readonly number[]>;

export interface NativeBinding {
  runtimeInfo(): NativeRuntimeInfo;
  setNumThreads(threads: number): void;
  /** Builds an embedding model from a whole backbone (head included, removed here). */
  buildFromBackbone(modelPath: string, options: NativeBuildOptions): Promise<NativeEmbeddingModel>;
  /** Loads an embedding model written by NativeEmbeddingModel.save. */
  loadEmbeddingModel(modelPath: string, options: NativeLoadOptions): Promise<NativeEmbeddingModel>;
  /**
   * Swaps two existing paths in one step (Linux renameat2 RENAME_EXCHANGE). Rejects with code 'ENOTSUP'
   * where the filesystem or kernel cannot, else with the errno's code.
   */
  exchangePaths(first: string, second: string): Promise<void>;
  /**
   * One loss on given embeddings, without a model (one Float32Array of rows x dim per input batch).
   * Copies its inputs. dtype 'float64' computes in double precision (gradients still come back float32).
   */
  computeLoss(
    loss: string,
    embeddings: Float32Array[],
    dim: number,
    targets: Int32Array | Float32Array,
    options: NativeLossOptions,
    dtype: 'float32' | 'float64',
  ): Promise<NativeComputeLossResult>;
  /**
   * Exact cosine top-k (native/search_top_k_worker.h): each row of `queries` against every row of
   * `index` (both rows x dim float32, copied when the call is made, normalised natively; zero rows score
   * 0), blocked over queries so one block of scores stays within 256 MB. `k` is clamped to the index rows;
   * the k used comes back. Rejects naming a row that holds NaN or infinity.
   */
  searchTopK(queries: Float32Array, index: Float32Array, dim: number, k: number, options?: NativeSearchOptions): Promise<NativeSearchResult>;
  /**
   * Retrieval metrics (native/retrieval_metrics_worker.h; definitions in lib/metrics.ts): resolves to
   * their SUMS over the queries that have a relevant item. `index` null: the queries are the index.
   * Labels are int32 ids, one per row.
   */
  retrievalMetrics(
    queries: Float32Array,
    queryLabels: Int32Array,
    index: Float32Array | null,
    indexLabels: Int32Array | null,
    dim: number,
    k: number,
    options?: NativeRetrievalMetricsOptions,
  ): Promise<NativeRetrievalSums>;
  /**
   * Joins a c10d process group off the event loop: rank 0 hosts a TCPStore at masterAddr:masterPort, every
   * rank connects and the backend (Gloo or NCCL) connects all ranks. Rejects after joinTimeoutMs naming
   * the rank and the address when a rank does not come or the address cannot be reached.
   */
  joinProcessGroup(options: NativeJoinOptions): Promise<NativeProcessGroup>;
  /** A natively held index of `dim`-wide rows (lib/embeddingIndex.ts wraps it). */
  SearchIndex: new (dim: number) => NativeSearchIndex;
}

/**
 * Rows held natively for repeated exact searches (native/search_index.h): `add` copies the new rows (and
 * throws a RangeError naming a row with NaN or infinity); each search shares the held rows instead of
 * copying them, and normalises only rows added since the last search.
 */
export interface NativeSearchIndex {
  readonly dim: number;
  /** Rows added so far. */
  readonly rows: number;
  add(rows: Float32Array): void;
  /** Exact cosine top-k of each query row, as NativeBinding.searchTopK; rejects on an empty index. */
  search(queries: Float32Array, k: number, options?: NativeSearchOptions): Promise<NativeSearchResult>;
}

export interface NativeSearchOptions {
  /** 'bf16': both sides rounded to bfloat16, products accumulated in float32. Default 'fp32'. */
  precision?: 'fp32' | 'bf16';
  /** Queries per block; default: as many as keep a block of scores within 256 MB. For tests. */
  blockRows?: number;
}

export interface NativeRetrievalMetricsOptions extends NativeSearchOptions {
  /** Leave out of query i's ranking the index row i (needs as many queries as index rows). */
  excludeSelf?: boolean;
}

/** rows x k, best first. */
export interface NativeSearchResult {
  indices: Int32Array;
  scores: Float32Array;
  rows: number;
  k: number;
}

/** Per-query metrics summed over the judged queries (queries - skippedQueries). */
export interface NativeRetrievalSums {
  queries: number;
  skippedQueries: number;
  excludedSelf: boolean;
  precision: number;
  recall: number;
  hit: number;
  hitAt1: number;
  reciprocalRank: number;
  ndcg: number;
  averagePrecision: number;
}

export interface NativeComputeLossResult {
  loss: number;
  examples: number;
  /** The gradient of the loss with respect to each embeddings array, in its layout. */
  gradients: Float32Array[];
  /** The miner's tuples: (anchors, positives, negatives) or (a1, p, a2, n); absent without a miner. */
  mined?: Int32Array[];
  /** The loss's own parameters (ArcFace's W, ProxyAnchor's proxies): values and gradient, row-major. */
  parameters: Record<string, { values: Float32Array; gradient: Float32Array; shape: number[] }>;
}

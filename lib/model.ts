// The public embedding model: loads an exported backbone (head removed, pooled, optionally projected in
// C++) or a saved fine-tuned model, encodes images, and saves. Native work runs on worker threads;
// image decoding of the next batch overlaps encoding of the current one.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { NativeDevice, NativeEmbeddingModel, NativePooling } from './binding.js';
import { loadImageBatch, type ImageBatch, type ImageInput } from './data/images.js';
import { loadBinding, runtimeInfo } from './loader.js';
import { METADATA_FILE, validateMetadata, type BackboneMetadata, type ImagePreprocessing } from './metadata.js';
import { rethrowWithCallerStack } from './errors.js';

export type Device = 'cpu' | 'cuda' | 'auto';
export type Pooling = NativePooling;

export const EMBEDDING_FORMAT = 'finetuner-embedding';
export const EMBEDDING_FORMAT_VERSION = 1;

export interface LoadModelOptions {
  /** Where to run: 'auto' (default) picks CUDA when LibTorch sees a GPU, else the CPU. */
  device?: Device;
  /** Pooling of the trunk's feature map (backbones only). Default: the backbone's ('avg' for CNNs). */
  pooling?: Pooling;
  /** Initial exponent of GeM pooling, learned during fine-tuning. Default 3. */
  gemP?: number;
  /** Adds a linear projection head to this many dimensions (backbones only). Default: none. */
  outputDim?: number;
  /** L2-normalise embeddings (backbones only). Default true. */
  normalize?: boolean;
  /**
   * Input side in pixels, replacing the backbone's crop size (the resize scales with it). Smaller
   * images train and encode much faster; the saved model records the size it was trained at.
   */
  imageSize?: number;
  /** Seed of the projection head's initialisation. Default 0. */
  seed?: number;
}

/** finetuner.json of a saved (fine-tuned) embedding model. */
export interface EmbeddingMetadata {
  format: typeof EMBEDDING_FORMAT;
  formatVersion: typeof EMBEDDING_FORMAT_VERSION;
  name: string;
  task: BackboneMetadata['task'];
  architecture: BackboneMetadata['architecture'];
  pooling: Pooling;
  outputDim: number;
  normalize: boolean;
  preprocessing: ImagePreprocessing;
  model: string;
  /** How to call the TorchScript module from Python. */
  inputs: Record<string, string>;
  backbone: BackboneMetadata;
  training?: unknown;
}

export interface EncodeOptions {
  /** Images per native call. Default 32. */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface Embeddings {
  rows: number;
  dim: number;
  /** rows * dim floats, row-major. */
  data: Float32Array;
}

export interface SaveOptions {
  /** Stored in finetuner.json under "training". */
  training?: unknown;
}

function resolveDevice(device: Device | undefined): NativeDevice {
  const wanted = device ?? 'auto';
  if (wanted === 'auto') return runtimeInfo().cudaAvailable ? 'cuda' : 'cpu';
  if (wanted !== 'cpu' && wanted !== 'cuda') {
    throw new TypeError(`option 'device' must be 'cpu', 'cuda' or 'auto', got ${JSON.stringify(device)}`);
  }
  if (wanted === 'cuda' && !runtimeInfo().cudaAvailable) {
    throw new Error("option 'device' is 'cuda' but CUDA is not available (no GPU, or a CPU-only LibTorch); use 'cpu' or 'auto'");
  }
  return wanted;
}

function positiveInteger(value: unknown, option: string): number {
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw new TypeError(`option '${option}' must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value as number;
}

function scaledPreprocessing(prep: ImagePreprocessing, imageSize: number | undefined): ImagePreprocessing {
  if (imageSize === undefined) return prep;
  const crop = positiveInteger(imageSize, 'imageSize');
  return { ...prep, crop, resize: Math.max(crop, Math.round((crop * prep.resize) / prep.crop)) };
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new Error(`${file} not found: ${dirname(file)} is not a finetuner model directory (export one with exportModel or save one with model.save)`);
    }
    throw new Error(`cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * Loads a model directory: an exported backbone (finetuner.json format "finetuner-backbone"), whose head
 * is removed and replaced by pooling, an optional projection and L2 normalisation; or a saved embedding
 * model (format "finetuner-embedding"), used as it was saved.
 */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<EmbeddingModel> {
  const caller = new Error();
  const root = resolve(dir);
  const metadataFile = join(root, METADATA_FILE);
  const raw = await readJson(metadataFile);
  const device = resolveDevice(options.device);
  const binding = loadBinding();
  try {
    if (raw.format === EMBEDDING_FORMAT) {
      const metadata = raw as unknown as EmbeddingMetadata;
      validateMetadata(metadata.backbone, `${metadataFile} (backbone)`);
      for (const key of ['pooling', 'outputDim', 'normalize', 'gemP'] as const) {
        if (options[key] !== undefined) {
          throw new Error(`option '${key}' cannot change a saved embedding model (${root}); load the backbone to rebuild the head`);
        }
      }
      const preprocessing = scaledPreprocessing(metadata.preprocessing, options.imageSize);
      const native = await binding.loadEmbeddingModel(join(root, metadata.model), { device });
      return new EmbeddingModel(native, { ...metadata, preprocessing });
    }
    const backbone = validateMetadata(raw, metadataFile);
    const pooling = options.pooling ?? backbone.pooling;
    if (!['avg', 'max', 'gem'].includes(pooling)) {
      throw new TypeError(`option 'pooling' must be 'avg', 'max' or 'gem', got ${JSON.stringify(pooling)}`);
    }
    const outputDim = options.outputDim === undefined ? 0 : positiveInteger(options.outputDim, 'outputDim');
    const gemP = options.gemP ?? 3;
    if (!(gemP > 0)) throw new TypeError(`option 'gemP' must be positive, got ${gemP}`);
    const normalize = options.normalize ?? true;
    const preprocessing = scaledPreprocessing(backbone.preprocessing, options.imageSize);
    const native = await binding.buildFromBackbone(join(root, backbone.model), {
      device,
      modality: 'image',
      trunk: backbone.trunk,
      pooling,
      gemP,
      embeddingDim: backbone.embeddingDim,
      outputDim,
      normalize,
      mean: backbone.preprocessing.mean,
      std: backbone.preprocessing.std,
      seed: options.seed ?? 0,
    });
    const metadata: EmbeddingMetadata = {
      format: EMBEDDING_FORMAT,
      formatVersion: EMBEDDING_FORMAT_VERSION,
      name: backbone.name,
      task: backbone.task,
      architecture: backbone.architecture,
      pooling,
      outputDim: native.outputDim,
      normalize,
      preprocessing,
      model: 'model.pt',
      inputs: {
        encode_pixels: 'uint8 tensor N x H x W x 3 (RGB, resized and centre-cropped as in preprocessing)',
        forward: 'float32 tensor N x 3 x H x W, scaled to [0, 1] and normalised with preprocessing.mean/std',
      },
      backbone,
    };
    return new EmbeddingModel(native, metadata);
  } catch (error) {
    rethrowWithCallerStack(error, caller);
  }
}

/** A loaded embedding model. Call dispose() (or use `await using`) to free its native memory. */
export class EmbeddingModel {
  readonly metadata: EmbeddingMetadata;
  private readonly native: NativeEmbeddingModel;

  /** @internal Use loadModel. */
  constructor(native: NativeEmbeddingModel, metadata: EmbeddingMetadata) {
    this.native = native;
    this.metadata = metadata;
  }

  get name(): string {
    return this.metadata.name;
  }
  get outputDim(): number {
    return this.native.outputDim;
  }
  get device(): NativeDevice {
    return this.native.device;
  }
  get preprocessing(): ImagePreprocessing {
    return this.metadata.preprocessing;
  }
  get disposed(): boolean {
    return this.native.disposed;
  }

  /** @internal The raw binding object, for fit(). */
  get nativeModel(): NativeEmbeddingModel {
    this.checkAlive();
    return this.native;
  }

  parameterCount(): { total: number; trainable: number } {
    this.checkAlive();
    return this.native.parameterCount();
  }

  /** Decodes, resizes and crops images as the model expects (sharp, off the event loop). */
  loadImages(inputs: readonly ImageInput[]): Promise<ImageBatch> {
    return loadImageBatch(inputs, this.metadata.preprocessing);
  }

  /** Encodes an already prepared pixel batch (uint8 NHWC RGB of the model's input size). */
  async encodeBatch(batch: ImageBatch): Promise<Float32Array> {
    this.checkAlive();
    const caller = new Error();
    try {
      return await this.native.encode(batch);
    } catch (error) {
      rethrowWithCallerStack(error, caller);
    }
  }

  /**
   * Encodes images (file paths, encoded image Buffers or raw pixels) into one row per input, in input
   * order. Decoding of the next batch runs while the current one is encoded.
   */
  async encode(inputs: readonly ImageInput[], options: EncodeOptions = {}): Promise<Embeddings> {
    this.checkAlive();
    if (!Array.isArray(inputs)) throw new TypeError('encode needs an array of images (paths, Buffers or raw pixels)');
    const batchSize = positiveInteger(options.batchSize ?? 32, 'batchSize');
    const dim = this.outputDim;
    const data = new Float32Array(inputs.length * dim);
    const starts: number[] = [];
    for (let start = 0; start < inputs.length; start += batchSize) starts.push(start);
    const load = (start: number) => this.loadImages(inputs.slice(start, start + batchSize));
    let pending = starts.length > 0 ? load(starts[0]!) : undefined;
    for (let i = 0; i < starts.length; i++) {
      const batch = await pending!;
      pending = i + 1 < starts.length ? load(starts[i + 1]!) : undefined;
      // A rejected prefetch must not go unhandled if this batch's encode fails first.
      pending?.catch(() => undefined);
      data.set(await this.encodeBatch(batch), starts[i]! * dim);
      options.onProgress?.(Math.min(starts[i]! + batchSize, inputs.length), inputs.length);
    }
    return { rows: inputs.length, dim, data };
  }

  /**
   * Writes the model to `dir` as model.pt (TorchScript: `torch.jit.load` in Python, no finetuner needed)
   * and finetuner.json. Both are written into a temporary directory that replaces `dir` at the end, so a
   * failure leaves no half-written directory.
   */
  async save(dir: string, options: SaveOptions = {}): Promise<void> {
    this.checkAlive();
    const caller = new Error();
    const target = resolve(dir);
    const staging = join(dirname(target), `.${basename(target)}.tmp-${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(staging, { recursive: true });
      await this.native.save(join(staging, this.metadata.model));
      const metadata: EmbeddingMetadata = { ...this.metadata, outputDim: this.outputDim };
      if (options.training !== undefined) metadata.training = options.training;
      await writeFile(join(staging, METADATA_FILE), `${JSON.stringify(metadata, null, 2)}\n`);
      await replaceDirectory(staging, target);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      rethrowWithCallerStack(error, caller);
    }
  }

  /** Frees the native model now; safe to call twice. Methods called afterwards throw. */
  dispose(): void {
    this.native.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  private checkAlive(): void {
    if (this.native.disposed) throw new Error(`the model ${this.metadata.name} has been disposed`);
  }
}

// rename() cannot replace a non-empty directory: the old one is moved aside first and removed only once
// the new one is in place.
async function replaceDirectory(staging: string, target: string): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  if (!existsSync(target)) {
    await rename(staging, target);
    return;
  }
  const old = `${target}.old-${randomBytes(4).toString('hex')}`;
  await rename(target, old);
  try {
    await rename(staging, target);
  } catch (error) {
    await rename(old, target);
    throw error;
  }
  await rm(old, { recursive: true, force: true });
}

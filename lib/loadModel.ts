// loadModel(dir): an exported backbone (finetuner.json format "finetuner-backbone") becomes an
// embedding model, built by its modality (lib/modalities/): head removed and replaced by pooling, an
// optional projection and L2 normalisation in C++; a saved embedding model (format "finetuner-embedding")
// loads as it was saved, its modality restoring the JS side (tokenizer, image size).

import { join, resolve } from 'node:path';
import type { NativeBinding, NativeDevice } from './binding.js';
import { rethrowWithCallerStack } from './errors.js';
import { loadBinding, runtimeInfo } from './addonLoader.js';
import { isSavedModel, METADATA_FILE, readModelDirMetadata, validateMetadata, type EmbeddingMetadata, type ModelDirMetadata } from './metadata.js';
import { modalityOfMetadata } from './modalities/index.js';
import { modelFileIn, type ModelParts } from './modalities/modelParts.js';
import { EmbeddingModel, type Device, type Pooling } from './model.js';
import { resolvePrecision, type Precision } from './precision.js';

export interface LoadModelOptions {
  /** Where to run: 'auto' (default) picks CUDA when LibTorch sees a GPU, else the CPU. */
  device?: Device;
  /**
   * Pooling (backbones only). Images: 'avg' (default), 'max', 'gem'. Text, over the attention mask:
   * 'mean' (default), 'cls', 'max'.
   */
  pooling?: Pooling;
  /** Initial exponent of GeM pooling, learned during fine-tuning. Default 3. */
  gemP?: number;
  /** Adds a linear projection head to this many dimensions (backbones only). Default: none. */
  outputDim?: number;
  /** L2-normalise embeddings (backbones only). Default true. */
  normalize?: boolean;
  /**
   * Images: input side in pixels, replacing the backbone's crop size (the resize scales with it).
   * Smaller images train and encode much faster; the saved model records the size it was trained at.
   */
  imageSize?: number;
  /** Text: tokens per text (special tokens included); longer texts are truncated. Default: the model's maximum. */
  maxLength?: number;
  /** Seed of the projection head's initialisation. Default 0. */
  seed?: number;
  /**
   * Precision of encode: 'auto' (default: bf16 on CUDA and on CPUs with AVX512-BF16 or AMX, else fp32),
   * 'fp32', 'bf16', 'fp16' (CUDA only) or 'int8' (CPU: linear layers dynamically quantized). Weights stay
   * float32; change it later with model.setPrecision. fit trains in its own `precision` (default fp32).
   */
  precision?: Precision;
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

async function loadSavedModel(binding: NativeBinding, root: string, metadata: EmbeddingMetadata, device: NativeDevice, options: LoadModelOptions): Promise<ModelParts> {
  validateMetadata(metadata.backbone, `${join(root, METADATA_FILE)} (backbone)`);
  for (const key of ['pooling', 'outputDim', 'normalize', 'gemP'] as const) {
    if (options[key] !== undefined) {
      throw new Error(`option '${key}' cannot change a saved embedding model (${root}); load the backbone to rebuild the head`);
    }
  }
  const modality = modalityOfMetadata(metadata);
  const modelFile = await modelFileIn(root, metadata.model);
  const native = await binding.loadEmbeddingModel(modelFile, { device });
  if (native.modality !== modality.name) {
    native.dispose();
    throw new Error(`${join(root, METADATA_FILE)} says modality "${modality.name}" but ${modelFile} is a "${native.modality}" model`);
  }
  return modality.restore(native, root, metadata, options);
}

/** @internal A model directory whose finetuner.json has been read (fit reads it once, to know the modality first). */
export async function loadModelFromMetadata(dir: string, metadata: ModelDirMetadata, options: LoadModelOptions = {}): Promise<EmbeddingModel> {
  const root = resolve(dir);
  const device = resolveDevice(options.device);
  const precision = resolvePrecision(options.precision, device);
  const binding = loadBinding();
  const parts = isSavedModel(metadata)
    ? await loadSavedModel(binding, root, metadata, device, options)
    : await modalityOfMetadata(metadata).build(binding, root, metadata, device, options);
  const model = new EmbeddingModel(parts.native, parts.metadata, parts.tokenizer);
  try {
    model.setPrecision(precision);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

/**
 * Loads a model directory: an exported backbone, turned into an embedding model (head removed, pooled,
 * optionally projected, L2-normalised), or a saved embedding model, used as it was saved.
 */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<EmbeddingModel> {
  const caller = new Error();
  try {
    return await loadModelFromMetadata(dir, await readModelDirMetadata(resolve(dir)), options);
  } catch (error) {
    rethrowWithCallerStack(error, caller);
  }
}

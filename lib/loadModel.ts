// loadModel(dir): an exported backbone (finetuner.json format "finetuner-backbone") becomes an
// embedding model here, its head removed and replaced by pooling, an optional projection and L2
// normalisation in C++; a saved embedding model (format "finetuner-embedding") loads as it was saved.

import { dirname, join, resolve } from 'node:path';
import type { NativeBinding, NativeDevice, NativeEmbeddingModel } from './binding.js';
import { rethrowWithCallerStack } from './errors.js';
import { loadBinding, runtimeInfo } from './addonLoader.js';
import {
  isClipBackbone,
  isTextBackbone,
  METADATA_FILE,
  validateMetadata,
  type BackboneMetadata,
  type ClipBackboneMetadata,
  type ImageBackboneMetadata,
  type ImagePreprocessing,
  type TextBackboneMetadata,
} from './metadata.js';
import {
  EMBEDDING_FORMAT,
  EMBEDDING_FORMAT_VERSION,
  EmbeddingModel,
  type Device,
  type EmbeddingMetadata,
  type Pooling,
} from './model.js';
import { resolvePrecision, type Precision } from './precision.js';
import { insideFolder, readJsonFile, requireRegularFile } from './jsonFile.js';
import { checkVocabularyFits, TextTokenizer } from './text/tokenizer.js';

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
   * Autocast precision of encode and training: 'fp32' (default), 'bf16', 'fp16' (CUDA only) or 'auto'
   * (bf16 on CUDA and on CPUs with AVX512-BF16 or AMX, else fp32). Weights stay float32; change it
   * later with model.setPrecision.
   */
  precision?: Precision;
}

const IMAGE_POOLINGS: readonly Pooling[] = ['avg', 'max', 'gem'];
const TEXT_POOLINGS: readonly Pooling[] = ['mean', 'cls', 'max'];

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
  const value = await readJsonFile(file, 'finetuner.json',
    `${file} not found: ${dirname(file)} is not a finetuner model directory (export one with exportModel or save one with model.save)`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${file}: expected a JSON object`);
  return value as Record<string, unknown>;
}

async function readTokenizer(root: string, tokenizerFile: string | null | undefined, vocabSize: number, maxLength: number | undefined) {
  if (!tokenizerFile) {
    throw new Error(
      `${join(root, METADATA_FILE)}: the model has no tokenizer.json; export it from a Hugging Face folder that has one ` +
        '(--weights DIR) or pass --tokenizer FILE to the exporter',
    );
  }
  const file = await requireRegularFile(insideFolder(root, tokenizerFile, 'text.tokenizer', join(root, METADATA_FILE)), 'tokenizer');
  const tokenizer = await TextTokenizer.fromFile(file, maxLength === undefined ? {} : { maxLength: positiveInteger(maxLength, 'maxLength') });
  checkVocabularyFits(tokenizer, vocabSize, join(root, METADATA_FILE));
  return tokenizer;
}

function baseMetadata(backbone: BackboneMetadata, native: NativeEmbeddingModel, pooling: EmbeddingMetadata['pooling'], normalize: boolean) {
  return {
    format: EMBEDDING_FORMAT,
    formatVersion: EMBEDDING_FORMAT_VERSION,
    name: backbone.name,
    task: backbone.task,
    architecture: backbone.architecture,
    modality: native.modality,
    pooling,
    outputDim: native.outputDim,
    normalize,
    model: 'model.pt',
    backbone,
  } as const;
}

function checkPooling(pooling: Pooling, allowed: readonly Pooling[]): Pooling {
  if (!allowed.includes(pooling)) {
    throw new TypeError(`option 'pooling' must be one of ${allowed.join(', ')} for this model, got ${JSON.stringify(pooling)}`);
  }
  return pooling;
}

async function buildImageModel(binding: NativeBinding, root: string, backbone: ImageBackboneMetadata, device: NativeDevice, options: LoadModelOptions) {
  const pooling = checkPooling(options.pooling ?? backbone.pooling, IMAGE_POOLINGS);
  const gemP = options.gemP ?? 3;
  if (!(gemP > 0)) throw new TypeError(`option 'gemP' must be positive, got ${gemP}`);
  const normalize = options.normalize ?? true;
  const native = await binding.buildFromBackbone(await requireRegularFile(insideFolder(root, backbone.model, 'model', join(root, METADATA_FILE)), 'model file'), {
    device,
    modality: 'image',
    trunk: backbone.trunk,
    pooling,
    gemP,
    embeddingDim: backbone.embeddingDim,
    outputDim: options.outputDim === undefined ? 0 : positiveInteger(options.outputDim, 'outputDim'),
    normalize,
    mean: backbone.preprocessing.mean,
    std: backbone.preprocessing.std,
    seed: options.seed ?? 0,
  });
  const metadata: EmbeddingMetadata = {
    ...baseMetadata(backbone, native, pooling, normalize),
    preprocessing: scaledPreprocessing(backbone.preprocessing, options.imageSize),
    inputs: {
      encode_pixels: 'uint8 tensor N x H x W x 3 (RGB, resized and centre-cropped as in preprocessing)',
      forward: 'float32 tensor N x 3 x H x W, scaled to [0, 1] and normalised with preprocessing.mean/std',
    },
  };
  return new EmbeddingModel(native, metadata);
}

async function buildTextModel(binding: NativeBinding, root: string, backbone: TextBackboneMetadata, device: NativeDevice, options: LoadModelOptions) {
  if (options.imageSize !== undefined || options.gemP !== undefined) {
    throw new TypeError(`options 'imageSize' and 'gemP' are for image models; ${backbone.name} is a text model`);
  }
  const pooling = checkPooling(options.pooling ?? backbone.pooling, TEXT_POOLINGS);
  const tokenizer = await readTokenizer(root, backbone.text.tokenizer, backbone.text.vocabSize, options.maxLength ?? backbone.text.maxLength);
  const normalize = options.normalize ?? true;
  const native = await binding.buildFromBackbone(await requireRegularFile(insideFolder(root, backbone.model, 'model', join(root, METADATA_FILE)), 'model file'), {
    device,
    modality: 'text',
    pooling,
    embeddingDim: backbone.embeddingDim,
    outputDim: options.outputDim === undefined ? 0 : positiveInteger(options.outputDim, 'outputDim'),
    normalize,
    seed: options.seed ?? 0,
  });
  const metadata: EmbeddingMetadata = {
    ...baseMetadata(backbone, native, pooling, normalize),
    text: { ...backbone.text, maxLength: tokenizer.maxLength },
    inputs: {
      encode_tokens: 'input_ids, attention_mask, token_type_ids: int tensors N x L (padded; mask 0 on padding)',
      forward: 'the same three tensors as int64',
    },
  };
  return new EmbeddingModel(native, metadata, tokenizer);
}

async function buildClipModel(binding: NativeBinding, root: string, backbone: ClipBackboneMetadata, device: NativeDevice, options: LoadModelOptions) {
  for (const key of ['pooling', 'outputDim', 'gemP'] as const) {
    if (options[key] !== undefined) {
      throw new TypeError(`option '${key}' does not apply to CLIP models (${backbone.name}): both towers already pool and project into one shared space`);
    }
  }
  if (options.normalize === false) throw new TypeError(`CLIP embeddings are always L2-normalised: option 'normalize: false' is not supported for ${backbone.name}`);
  const tokenizer = await readTokenizer(root, backbone.text.tokenizer, backbone.text.vocabSize, options.maxLength ?? backbone.text.maxLength);
  if (tokenizer.maxLength > backbone.text.maxLength) {
    throw new TypeError(`option 'maxLength' (${tokenizer.maxLength}) exceeds ${backbone.name}'s context length of ${backbone.text.maxLength} tokens`);
  }
  const native = await binding.buildFromBackbone(await requireRegularFile(insideFolder(root, backbone.model, 'model', join(root, METADATA_FILE)), 'model file'), {
    device,
    modality: 'text-image',
    pooling: 'mean',
    embeddingDim: backbone.embeddingDim,
    outputDim: 0,
    normalize: true,
    mean: backbone.preprocessing.mean,
    std: backbone.preprocessing.std,
    seed: options.seed ?? 0,
  });
  const metadata: EmbeddingMetadata = {
    ...baseMetadata(backbone, native, backbone.clip.textPooling, true),
    preprocessing: scaledPreprocessing(backbone.preprocessing, options.imageSize),
    text: { ...backbone.text, maxLength: tokenizer.maxLength },
    inputs: CLIP_INPUTS,
  };
  return new EmbeddingModel(native, metadata, tokenizer);
}

const CLIP_INPUTS = {
  encode_pixels: 'uint8 tensor N x H x W x 3 (RGB, resized and centre-cropped as in preprocessing) -> N x D, L2-normalised',
  encode_tokens: 'input_ids, attention_mask, token_type_ids: int tensors N x L (padded; mask 0 on padding; token types ignored) -> N x D, L2-normalised',
  encode_images: 'float32 tensor N x 3 x H x W, scaled to [0, 1] and normalised with preprocessing.mean/std',
} as const;

async function loadSavedModel(binding: NativeBinding, root: string, metadata: EmbeddingMetadata, device: NativeDevice, options: LoadModelOptions) {
  validateMetadata(metadata.backbone, `${join(root, METADATA_FILE)} (backbone)`);
  for (const key of ['pooling', 'outputDim', 'normalize', 'gemP'] as const) {
    if (options[key] !== undefined) {
      throw new Error(`option '${key}' cannot change a saved embedding model (${root}); load the backbone to rebuild the head`);
    }
  }
  const modality = metadata.modality ?? (isTextBackbone(metadata.backbone) ? 'text' : 'image');
  const modelFile = await requireRegularFile(insideFolder(root, metadata.model, 'model', join(root, METADATA_FILE)), 'model file');
  const native = await binding.loadEmbeddingModel(modelFile, { device });
  if (native.modality !== modality) {
    native.dispose();
    throw new Error(`${join(root, METADATA_FILE)} says modality "${modality}" but ${modelFile} is a "${native.modality}" model`);
  }
  if (modality === 'text-image') {
    const tokenizer = await readTokenizer(root, metadata.text?.tokenizer, metadata.text?.vocabSize ?? 0, options.maxLength ?? metadata.text?.maxLength);
    return new EmbeddingModel(
      native,
      { ...metadata, modality, text: { ...metadata.text!, maxLength: tokenizer.maxLength }, preprocessing: scaledPreprocessing(metadata.preprocessing!, options.imageSize) },
      tokenizer,
    );
  }
  if (modality === 'text') {
    const tokenizer = await readTokenizer(root, metadata.text?.tokenizer, metadata.text?.vocabSize ?? 0, options.maxLength ?? metadata.text?.maxLength);
    return new EmbeddingModel(native, { ...metadata, modality, text: { ...metadata.text!, maxLength: tokenizer.maxLength } }, tokenizer);
  }
  return new EmbeddingModel(native, { ...metadata, modality, preprocessing: scaledPreprocessing(metadata.preprocessing!, options.imageSize) });
}

async function buildOrLoad(binding: NativeBinding, root: string, raw: Record<string, unknown>, metadataFile: string, device: NativeDevice, options: LoadModelOptions) {
  if (raw.format === EMBEDDING_FORMAT) return loadSavedModel(binding, root, raw as unknown as EmbeddingMetadata, device, options);
  const backbone = validateMetadata(raw, metadataFile);
  if (isClipBackbone(backbone)) return buildClipModel(binding, root, backbone, device, options);
  return isTextBackbone(backbone) ? buildTextModel(binding, root, backbone, device, options) : buildImageModel(binding, root, backbone, device, options);
}

/**
 * Loads a model directory: an exported backbone, turned into an embedding model (head removed, pooled,
 * optionally projected, L2-normalised), or a saved embedding model, used as it was saved.
 */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<EmbeddingModel> {
  const caller = new Error();
  try {
    const root = resolve(dir);
    const metadataFile = join(root, METADATA_FILE);
    const raw = await readJson(metadataFile);
    const device = resolveDevice(options.device);
    const precision = resolvePrecision(options.precision, device);
    const binding = loadBinding();
    const model = await buildOrLoad(binding, root, raw, metadataFile, device, options);
    try {
      model.setPrecision(precision);
    } catch (error) {
      model.dispose();
      throw error;
    }
    return model;
  } catch (error) {
    rethrowWithCallerStack(error, caller);
  }
}

// finetuner.json of a model directory, the one place its types are defined: an exported backbone
// (docs/DESIGN.md, "Exported backbone directory"), written by scripts/export_torchscript/metadata.py, and
// a saved embedding model (written by model.save). For backbones the Python side is the producer; this
// file is the TypeScript view of the same schema and the validation every reader goes through, so a
// stale or hand-edited file fails here with the field named, not later inside the native addon.

import { existsSync } from 'node:fs';
import { readJsonFile } from './jsonFile.js';
import { dirname, join } from 'node:path';
import type { NativeModality, NativePooling } from './binding.js';
import { TASKS, type Interpolation, type Task } from './registry.js';

export const BACKBONE_FORMAT = 'finetuner-backbone';
export const BACKBONE_FORMAT_VERSION = 1;
export const METADATA_FILE = 'finetuner.json';

export const EMBEDDING_FORMAT = 'finetuner-embedding';
export const EMBEDDING_FORMAT_VERSION = 1;

export type BackboneTask = Task;
export type BackboneArchitecture = 'cnn' | 'transformer';
export type BackboneSize = 'full' | 'tiny';
export type { Interpolation };

export interface ImagePreprocessing {
  /** Shorter side is resized to this many pixels... */
  resize: number;
  /** ...then a centred square of this side is cropped: the model's input size. */
  crop: number;
  interpolation: Interpolation;
  /** Per-channel RGB normalisation of pixels scaled to [0, 1]. */
  mean: [number, number, number];
  std: [number, number, number];
}

/** Text backbones (task "text-to-text"): how to tokenize and call the scripted encoder. */
export type TextInput = 'input_ids' | 'attention_mask' | 'token_type_ids';

export interface TextPreprocessing {
  /** Hugging Face tokenizer.json beside finetuner.json, or null when the export has none. */
  tokenizer: string | null;
  /** Most tokens per sequence (the model's position embeddings). */
  maxLength: number;
  /** Rows of the token embedding table: every token id must be below this. */
  vocabSize: number;
  /** Transformer layers, named `${layerPrefix}${i}` for i < numLayers in the scripted module. */
  numLayers: number;
  layerPrefix: string;
  /**
   * Inputs the model uses. forward always takes (input_ids, attention_mask, token_type_ids), int64 N x L,
   * attention_mask 1 for tokens and 0 for padding, and returns float32 N x L x embeddingDim token states;
   * a model without "token_type_ids" here ignores that argument.
   */
  inputs: TextInput[];
  /** Whether the tokenizer lowercases (and strips accents from) text. */
  lowercase: boolean;
  padTokenId: number;
}

interface BackboneMetadataBase {
  format: typeof BACKBONE_FORMAT;
  formatVersion: typeof BACKBONE_FORMAT_VERSION;
  /** Registry name, e.g. "resnet50". */
  name: string;
  task: BackboneTask;
  architecture: BackboneArchitecture;
  /** e.g. "resnet", "efficientnet", "bert", "distilbert". */
  family: string;
  /** "tiny" exports are small versions of the architecture, for tests. */
  size: BackboneSize;
  /** "random-init" or the checkpoint the weights came from (file base name; "folder/file" for text models). */
  weights: string;
  /** Images: channels C of the trunk's N x C x H x W output. Text: the hidden size of the token states. */
  embeddingDim: number;
  /** Direct children of the scripted model that form the trunk (images: run in this order; text: informative). */
  trunk: string[];
  /** Direct children dropped when the embedding model is built (images: pooling and classifier; text: BERT's pooler, or none). */
  head: string[];
  parameters: { withHead: number; withoutHead: number };
  /** Versions of the Python stack that exported the model. */
  versions: { torch: string; torchvision: string; python: string };
  /** TorchScript file, relative to the directory holding finetuner.json. */
  model: string;
}

/** An image backbone (CNN): forward(images N x 3 x H x W), trunk children give N x C x H x W. */
export interface ImageBackboneMetadata extends BackboneMetadataBase {
  task: 'image-to-image';
  pooling: 'avg' | 'max' | 'gem';
  preprocessing: ImagePreprocessing;
}

/** A text encoder (BERT, DistilBERT): forward(input_ids, attention_mask, token_type_ids) -> N x L x embeddingDim. */
export interface TextBackboneMetadata extends BackboneMetadataBase {
  task: 'text-to-text';
  architecture: 'transformer';
  pooling: 'mean' | 'cls' | 'max';
  text: TextPreprocessing;
}

/** CLIP facts of a text-to-image export (docs/DESIGN.md, "CLIP backbones"). */
export interface ClipInfo {
  /** open_clip architecture, e.g. "ViT-B-32-quickgelu". */
  variant: string;
  /** Child of the scripted model holding the image tower ("visual"). */
  imageTower: string;
  /** 'eot': state at the end-of-text token (CLIP's text transformer); 'mean': over the mask (XLM-R). */
  textPooling: 'eot' | 'mean';
  quickGelu: boolean;
  /** The weights' logit_scale (log of the inverse temperature). */
  logitScale: number;
  imageParameters: number;
  textParameters: number;
}

/**
 * A CLIP (task "text-to-image"): model.pt has encode_image(images N x 3 x S x S, normalised) and
 * encode_text(input_ids, attention_mask), both N x embeddingDim in the shared space, not normalised.
 */
export interface ClipBackboneMetadata extends BackboneMetadataBase {
  task: 'text-to-image';
  architecture: 'transformer';
  preprocessing: ImagePreprocessing;
  text: TextPreprocessing;
  clip: ClipInfo;
}

export type BackboneMetadata = ImageBackboneMetadata | TextBackboneMetadata | ClipBackboneMetadata;

/** finetuner.json of a saved (fine-tuned) embedding model. */
export interface EmbeddingMetadata {
  format: typeof EMBEDDING_FORMAT;
  formatVersion: typeof EMBEDDING_FORMAT_VERSION;
  name: string;
  task: BackboneMetadata['task'];
  architecture: BackboneMetadata['architecture'];
  modality: NativeModality;
  /** CLIP models: how the text tower pools ('eot' or 'mean'). */
  pooling: NativePooling | ClipInfo['textPooling'];
  outputDim: number;
  normalize: boolean;
  /** Image and CLIP models: how images are resized and cropped before encode_pixels. */
  preprocessing?: ImagePreprocessing;
  /** Text and CLIP models: the tokenizer (tokenizer.json beside model.pt) and maximum length. */
  text?: TextPreprocessing;
  model: string;
  /** How to call the TorchScript module from Python. */
  inputs: Record<string, string>;
  backbone: BackboneMetadata;
  training?: unknown;
}

/** finetuner.json of any model directory: a backbone (validated) or a saved model. */
export type ModelDirMetadata = BackboneMetadata | EmbeddingMetadata;

export function isSavedModel(meta: ModelDirMetadata): meta is EmbeddingMetadata {
  return meta.format === EMBEDDING_FORMAT;
}

export function isTextBackbone(meta: BackboneMetadata): meta is TextBackboneMetadata {
  return meta.task === 'text-to-text';
}

export function isClipBackbone(meta: BackboneMetadata): meta is ClipBackboneMetadata {
  return meta.task === 'text-to-image';
}

const ARCHITECTURES: readonly string[] = ['cnn', 'transformer'];
const SIZES: readonly string[] = ['full', 'tiny'];
const POOLINGS: readonly string[] = ['avg', 'max', 'gem'];
const TEXT_POOLINGS: readonly string[] = ['mean', 'cls', 'max'];
const CLIP_TEXT_POOLINGS: readonly string[] = ['eot', 'mean'];
const TEXT_INPUTS: readonly string[] = ['input_ids', 'attention_mask', 'token_type_ids'];
const INTERPOLATIONS: readonly string[] = ['bilinear', 'bicubic', 'nearest'];

/** Checks a parsed finetuner.json; `file` is only used in error messages. Returns the same object. */
export function validateMetadata(value: unknown, file: string): BackboneMetadata {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new Error(`${file}: field "${field}" must be ${expected}, got ${JSON.stringify(got) ?? 'nothing'}`);
  };
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  const object = (v: unknown, field: string): Record<string, unknown> =>
    isObject(v) ? v : fail(field, 'an object', v);
  const string = (v: unknown, field: string): string =>
    typeof v === 'string' && v.length > 0 ? v : fail(field, 'a non-empty string', v);
  const oneOf = (v: unknown, field: string, allowed: readonly string[]): string =>
    typeof v === 'string' && allowed.includes(v) ? v : fail(field, `one of ${allowed.join(', ')}`, v);
  const positiveInt = (v: unknown, field: string): number =>
    Number.isSafeInteger(v) && (v as number) > 0 ? (v as number) : fail(field, 'a positive integer', v);
  const names = (v: unknown, field: string, allowEmpty = false): string[] =>
    Array.isArray(v) && (allowEmpty || v.length > 0) && v.every((s) => typeof s === 'string' && s.length > 0)
      ? (v as string[])
      : fail(field, allowEmpty ? 'an array of names' : 'a non-empty array of names', v);
  const nonNegativeInt = (v: unknown, field: string): number =>
    Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : fail(field, 'a non-negative integer', v);
  // A file name inside the directory: never a path that escapes it.
  const fileName = (v: unknown, field: string): string => {
    const name = string(v, field);
    if (name.includes('/') || name.includes('\\') || name === '.' || name === '..') fail(field, 'a file name inside the directory', name);
    return name;
  };
  const triple = (v: unknown, field: string, positive: boolean): number[] =>
    Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0))
      ? (v as number[])
      : fail(field, `an array of 3 ${positive ? 'positive ' : ''}numbers`, v);

  const m = object(value, '(top level)');
  if (m.format !== BACKBONE_FORMAT) fail('format', `"${BACKBONE_FORMAT}"`, m.format);
  if (m.formatVersion !== BACKBONE_FORMAT_VERSION) {
    fail('formatVersion', `${BACKBONE_FORMAT_VERSION} (re-export the model with this version of finetuner)`, m.formatVersion);
  }
  string(m.name, 'name');
  const task = oneOf(m.task, 'task', TASKS as readonly string[]);
  const text = task === 'text-to-text';
  const clip = task === 'text-to-image';
  if ((text || clip) && m.architecture !== 'transformer') fail('architecture', `"transformer" for a ${task} backbone`, m.architecture);
  oneOf(m.architecture, 'architecture', ARCHITECTURES);
  string(m.family, 'family');
  oneOf(m.size, 'size', SIZES);
  string(m.weights, 'weights');
  positiveInt(m.embeddingDim, 'embeddingDim');
  names(m.trunk, 'trunk');
  // A text encoder may have nothing to drop (DistilBERT), nor has CLIP; an image model always has its classifier.
  names(m.head, 'head', text || clip);

  const validateImagePreprocessing = () => {
    const p = object(m.preprocessing, 'preprocessing');
    positiveInt(p.resize, 'preprocessing.resize');
    positiveInt(p.crop, 'preprocessing.crop');
    if ((p.crop as number) > (p.resize as number)) fail('preprocessing.crop', `at most resize (${p.resize})`, p.crop);
    oneOf(p.interpolation, 'preprocessing.interpolation', INTERPOLATIONS);
    triple(p.mean, 'preprocessing.mean', false);
    triple(p.std, 'preprocessing.std', true);
  };
  const validateText = () => {
    const t = object(m.text, 'text');
    if (t.tokenizer !== null) fileName(t.tokenizer, 'text.tokenizer');
    positiveInt(t.maxLength, 'text.maxLength');
    const vocab = positiveInt(t.vocabSize, 'text.vocabSize');
    positiveInt(t.numLayers, 'text.numLayers');
    string(t.layerPrefix, 'text.layerPrefix');
    const inputs = t.inputs;
    if (
      !Array.isArray(inputs) ||
      inputs[0] !== 'input_ids' ||
      inputs[1] !== 'attention_mask' ||
      !inputs.every((s) => TEXT_INPUTS.includes(s as string)) ||
      new Set(inputs).size !== inputs.length
    ) {
      fail('text.inputs', `"input_ids", "attention_mask", then optionally "token_type_ids"`, inputs);
    }
    if (typeof t.lowercase !== 'boolean') fail('text.lowercase', 'true or false', t.lowercase);
    if (nonNegativeInt(t.padTokenId, 'text.padTokenId') >= vocab) fail('text.padTokenId', `below text.vocabSize (${vocab})`, t.padTokenId);
  };

  if (text) {
    oneOf(m.pooling, 'pooling', TEXT_POOLINGS);
    validateText();
  } else if (clip) {
    validateImagePreprocessing();
    validateText();
    const c = object(m.clip, 'clip');
    string(c.variant, 'clip.variant');
    string(c.imageTower, 'clip.imageTower');
    oneOf(c.textPooling, 'clip.textPooling', CLIP_TEXT_POOLINGS);
    if (typeof c.quickGelu !== 'boolean') fail('clip.quickGelu', 'true or false', c.quickGelu);
    if (typeof c.logitScale !== 'number' || !Number.isFinite(c.logitScale)) fail('clip.logitScale', 'a finite number', c.logitScale);
    positiveInt(c.imageParameters, 'clip.imageParameters');
    positiveInt(c.textParameters, 'clip.textParameters');
  } else {
    oneOf(m.pooling, 'pooling', POOLINGS);
    validateImagePreprocessing();
  }

  const params = object(m.parameters, 'parameters');
  positiveInt(params.withHead, 'parameters.withHead');
  positiveInt(params.withoutHead, 'parameters.withoutHead');
  if ((params.withoutHead as number) > (params.withHead as number)) {
    fail('parameters.withoutHead', `at most parameters.withHead (${params.withHead})`, params.withoutHead);
  }

  const versions = object(m.versions, 'versions');
  for (const key of ['torch', 'torchvision', 'python']) string(versions[key], `versions.${key}`);

  fileName(m.model, 'model');
  return m as unknown as BackboneMetadata;
}

/**
 * Reads DIR/finetuner.json of a model directory once: a backbone's is validated here (readMetadata's
 * checks but the file checks, which loading does), a saved model's is returned as written.
 */
export async function readModelDirMetadata(dir: string): Promise<ModelDirMetadata> {
  const file = join(dir, METADATA_FILE);
  const raw = (await readJsonFile(file, 'finetuner.json',
    `${file} not found: ${dirname(file)} is not a finetuner model directory (export one with exportModel or save one with model.save)`)) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${file}: expected a JSON object`);
  if (typeof raw === 'object' && raw !== null && raw.format === EMBEDDING_FORMAT) return raw as unknown as EmbeddingMetadata;
  return validateMetadata(raw, file);
}

/**
 * Reads and validates DIR/finetuner.json of an exported backbone, and checks that the model file it
 * names is there. Errors name the file and the offending field.
 */
export async function readMetadata(dir: string): Promise<BackboneMetadata> {
  const file = join(dir, METADATA_FILE);
  const parsed = await readJsonFile(file, 'finetuner.json',
    `${file} not found: ${dir} is not an exported backbone (run exportModel or "finetuner export" first)`);
  const meta = validateMetadata(parsed, file);
  const modelPath = join(dir, meta.model);
  if (!existsSync(modelPath)) throw new Error(`${file}: field "model" names ${modelPath}, which does not exist`);
  if ((isTextBackbone(meta) || isClipBackbone(meta)) && meta.text.tokenizer !== null) {
    const tokenizerPath = join(dir, meta.text.tokenizer);
    if (!existsSync(tokenizerPath)) throw new Error(`${file}: field "text.tokenizer" names ${tokenizerPath}, which does not exist`);
  }
  return meta;
}

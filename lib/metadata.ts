// finetuner.json of an exported backbone directory (docs/DESIGN.md, "Exported backbone directory"),
// written by scripts/export_torchscript/metadata.py. The Python side is the producer; this file is the
// TypeScript view of the same schema and the validation every reader goes through, so a stale or
// hand-edited file fails here with the field named, not later inside the native addon.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const BACKBONE_FORMAT = 'finetuner-backbone';
export const BACKBONE_FORMAT_VERSION = 1;
export const METADATA_FILE = 'finetuner.json';

export type BackboneTask = 'image-to-image' | 'text-to-text' | 'text-to-image';
export type BackboneArchitecture = 'cnn' | 'transformer';
export type BackboneSize = 'full' | 'tiny';
export type Interpolation = 'bilinear' | 'bicubic' | 'nearest';

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

export interface BackboneMetadata {
  format: typeof BACKBONE_FORMAT;
  formatVersion: typeof BACKBONE_FORMAT_VERSION;
  /** Registry name, e.g. "resnet50". */
  name: string;
  task: BackboneTask;
  architecture: BackboneArchitecture;
  /** e.g. "resnet", "efficientnet". */
  family: string;
  /** "tiny" exports are small versions of the architecture, for tests. */
  size: BackboneSize;
  /** "random-init" or the base name of the checkpoint the weights came from. */
  weights: string;
  /** Channels C of the trunk's N x C x H x W output, i.e. the width after pooling. */
  embeddingDim: number;
  /** Direct children of the scripted model that form the trunk, run in this order. */
  trunk: string[];
  /** Direct children dropped when the embedding model is built (pooling and classifier). */
  head: string[];
  pooling: 'avg' | 'max' | 'gem';
  preprocessing: ImagePreprocessing;
  parameters: { withHead: number; withoutHead: number };
  /** Versions of the Python stack that exported the model. */
  versions: { torch: string; torchvision: string; python: string };
  /** TorchScript file, relative to the directory holding finetuner.json. */
  model: string;
}

const TASKS: readonly string[] = ['image-to-image', 'text-to-text', 'text-to-image'];
const ARCHITECTURES: readonly string[] = ['cnn', 'transformer'];
const SIZES: readonly string[] = ['full', 'tiny'];
const POOLINGS: readonly string[] = ['avg', 'max', 'gem'];
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
  const names = (v: unknown, field: string): string[] =>
    Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string' && s.length > 0)
      ? (v as string[])
      : fail(field, 'a non-empty array of names', v);
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
  oneOf(m.task, 'task', TASKS);
  oneOf(m.architecture, 'architecture', ARCHITECTURES);
  string(m.family, 'family');
  oneOf(m.size, 'size', SIZES);
  string(m.weights, 'weights');
  positiveInt(m.embeddingDim, 'embeddingDim');
  names(m.trunk, 'trunk');
  names(m.head, 'head');
  oneOf(m.pooling, 'pooling', POOLINGS);

  // Image preprocessing for now; the text and CLIP exporters will add their own (tokenizer) fields.
  const p = object(m.preprocessing, 'preprocessing');
  positiveInt(p.resize, 'preprocessing.resize');
  positiveInt(p.crop, 'preprocessing.crop');
  if ((p.crop as number) > (p.resize as number)) fail('preprocessing.crop', `at most resize (${p.resize})`, p.crop);
  oneOf(p.interpolation, 'preprocessing.interpolation', INTERPOLATIONS);
  triple(p.mean, 'preprocessing.mean', false);
  triple(p.std, 'preprocessing.std', true);

  const params = object(m.parameters, 'parameters');
  positiveInt(params.withHead, 'parameters.withHead');
  positiveInt(params.withoutHead, 'parameters.withoutHead');
  if ((params.withoutHead as number) > (params.withHead as number)) {
    fail('parameters.withoutHead', `at most parameters.withHead (${params.withHead})`, params.withoutHead);
  }

  const versions = object(m.versions, 'versions');
  for (const key of ['torch', 'torchvision', 'python']) string(versions[key], `versions.${key}`);

  const model = string(m.model, 'model');
  // A file name inside the directory: never a path that escapes it.
  if (model.includes('/') || model.includes('\\') || model === '.' || model === '..') {
    fail('model', 'a file name inside the directory', model);
  }
  return m as unknown as BackboneMetadata;
}

/**
 * Reads and validates DIR/finetuner.json of an exported backbone, and checks that the model file it
 * names is there. Errors name the file and the offending field.
 */
export async function readMetadata(dir: string): Promise<BackboneMetadata> {
  const file = join(dir, METADATA_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') {
      throw new Error(`${file} not found: ${dir} is not an exported backbone (run exportModel or "finetuner export" first)`);
    }
    throw new Error(`cannot read ${file}: ${err.message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  const meta = validateMetadata(parsed, file);
  const modelPath = join(dir, meta.model);
  if (!existsSync(modelPath)) throw new Error(`${file}: field "model" names ${modelPath}, which does not exist`);
  return meta;
}

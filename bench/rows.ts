// The rows of `npm run bench`: which model groups there are, the rows each has, the names --models and
// --only accept for them, each row's goal, and the selection of rows from those two flags.

import { cpuHasBf16 } from '../lib/precision.js';
import { BERT_MODEL } from './bert.js';
import { CLIP_LABEL, CLIP_MODEL } from './clip.js';
import { RESNET_MODEL } from './resnet.js';
import { UsageError, type BenchKind } from './shared.js';

export { UsageError };

/** A model group: each runs in a child process of its own. 'ort' holds the onnxruntime-node rows. */
export type BenchModel = 'resnet' | 'bert' | 'clip' | 'ort';
export const MODELS: readonly BenchModel[] = ['resnet', 'bert', 'clip', 'ort'];

/** Each group's rows, in the order of the report; a row's id is `${model}-${kind}`. */
export const MODEL_KINDS: Record<BenchModel, readonly BenchKind[]> = {
  resnet: ['train', 'encode'],
  bert: ['train', 'encode'],
  clip: ['image-encode', 'text-encode', 'train'],
  ort: ['bert-encode', 'resnet-encode', 'clip-image-encode'],
};

/** Kinds that --only accepts alone, for every model in --models that has such rows. */
const GENERIC_KINDS: readonly BenchKind[] = ['image-encode', 'text-encode', 'encode', 'train'];
/** Every kind, longest first (so that 'clip-image-encode' is read as clip + image-encode). */
const ALL_KINDS: readonly BenchKind[] = [...new Set(Object.values(MODEL_KINDS).flat())].sort((x, y) => y.length - x.length);

/** The model group's name in titles and the report. */
export const MODEL_NAMES: Record<BenchModel, string> = { resnet: RESNET_MODEL, bert: BERT_MODEL, clip: CLIP_LABEL, ort: 'onnxruntime-node' };

/** Names accepted for each model in --models and --only (lowercase: the flags are lowercased). */
const MODEL_ALIASES: Record<string, BenchModel> = {
  resnet: 'resnet',
  resnet50: 'resnet',
  bert: 'bert',
  'bert-base': 'bert',
  [BERT_MODEL]: 'bert',
  clip: 'clip',
  'vit-b-32': 'clip',
  [CLIP_MODEL.toLowerCase()]: 'clip',
  ort: 'ort',
  onnx: 'ort',
  onnxruntime: 'ort',
  'onnxruntime-node': 'ort',
};

/**
 * The ratio each row must reach (issue 13): addon/python >= 0.95; the addon at its default precision /
 * onnxruntime-node fp32 >= 1.3 on CPUs that multiply bf16 natively (where the default is bf16), >= 1.0
 * elsewhere (where it is fp32); the addon in fp32 / ORT fp32 >= 1.0.
 */
export const PYTHON_GOAL = 0.95;
export const ORT_GOAL = cpuHasBf16() ? 1.3 : 1.0;
export const ORT_FP32_GOAL = 1.0;
/** Suffixes of the onnxruntime-node rows that time the addon at a precision other than its default. */
export const FP32_SUFFIX = '-fp32';
export const INT8_SUFFIX = '-int8';

/** A row's goal by its result id; null for a row shown for information (int8 against ORT fp32). */
export function rowGoal(id: string): number | null {
  if (!id.startsWith('ort-')) return PYTHON_GOAL;
  if (id.endsWith(INT8_SUFFIX)) return null;
  return id.endsWith(FP32_SUFFIX) ? ORT_FP32_GOAL : ORT_GOAL;
}

/** Where a result belongs in its model's fixed order (resnet, bert: train, then encode). */
export function rowRank(model: BenchModel, id: string): number {
  return MODEL_KINDS[model].findIndex((k) => id.endsWith(`-${k}`) || id.includes(`-${k}-`));
}

export type RowSelection = Map<BenchModel, Set<BenchKind>>;

function list(value: string | undefined): string[] | undefined {
  return value?.split(',').map((v) => v.trim().toLowerCase()).filter((v) => v !== '');
}

/** A model's rows of a kind: 'encode' stands for all of a model's encode rows (CLIP's two, ORT's three). */
function rowsOf(model: BenchModel, kind: BenchKind): BenchKind[] {
  const kinds = MODEL_KINDS[model];
  if (kinds.includes(kind)) return [kind];
  return kind === 'encode' ? kinds.filter((k) => k.endsWith('-encode')) : [];
}

/**
 * --models and --only: which rows of which models run. A kind alone (train, encode, image-encode)
 * selects those rows of every model in --models (default all) that has them; a model (bert) or a row
 * (bert-train, clip-text-encode, ort-bert-encode) selects just that.
 */
export function selectRows(modelsFlag: string | undefined, onlyFlag: string | undefined): RowSelection {
  const modelOf = (name: string, flag: string): BenchModel => {
    const model = MODEL_ALIASES[name];
    if (!model) throw new UsageError(`${flag}: unknown model ${JSON.stringify(name)}; use ${MODELS.join(', ')}`);
    return model;
  };
  const listed = list(modelsFlag);
  if (listed && listed.length === 0) throw new UsageError('--models needs at least one model');
  const models = new Set(listed ? listed.map((m) => modelOf(m, '--models')) : MODELS);
  const only = list(onlyFlag);
  if (only && only.length === 0) throw new UsageError('--only needs at least one row');
  const rows: RowSelection = new Map();
  const add = (model: BenchModel, kind: BenchKind) => {
    if (!rows.has(model)) rows.set(model, new Set());
    rows.get(model)!.add(kind);
  };
  if (!only) {
    for (const model of models) for (const kind of MODEL_KINDS[model]) add(model, kind);
    return rows;
  }
  for (const token of only) {
    if ((GENERIC_KINDS as readonly string[]).includes(token)) {
      const selected = [...models].flatMap((model) => rowsOf(model, token as BenchKind).map((k) => add(model, k)));
      if (selected.length === 0) throw new UsageError(`--only ${token}: none of the models ${[...models].join(', ')} has ${token} rows`);
      continue;
    }
    // The longest kind whose prefix is a model name ('vit-b-32-train' is vit-b-32 + train,
    // 'ort-clip-image-encode' is ort + clip-image-encode).
    const kind = ALL_KINDS.find((k) => token.endsWith(`-${k}`) && MODEL_ALIASES[token.slice(0, -k.length - 1)]);
    const model = modelOf(kind ? token.slice(0, -kind.length - 1) : token, '--only');
    if (!models.has(model)) throw new UsageError(`--only ${onlyFlag} names ${model} rows, but --models ${modelsFlag} leaves ${model} out`);
    const kinds = kind ? rowsOf(model, kind) : MODEL_KINDS[model];
    if (kinds.length === 0) throw new UsageError(`--only ${token}: ${model} has no ${kind} row; its rows: ${MODEL_KINDS[model].map((k) => `${model}-${k}`).join(', ')}`);
    for (const k of kinds) add(model, k);
  }
  return rows;
}

/** The selected rows' ids of `model`, in the report's order (what --list prints, and a child's --only). */
export function selectedRowIds(rows: RowSelection, model: BenchModel): string[] {
  return MODEL_KINDS[model].filter((k) => rows.get(model)?.has(k)).map((k) => `${model}-${k}`);
}

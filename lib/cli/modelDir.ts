// What the verbs need to know about a --model directory before loading it: its modality, read from
// DIR/finetuner.json (an exported backbone's task, or a saved model's modality), so inputs and flags are
// checked before LibTorch starts. Which flags a model takes is read from its modality (lib/modalities/).
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EMBEDDING_FORMAT, METADATA_FILE, BACKBONE_FORMAT } from '../metadata.js';
import { MODALITIES, type EmbeddingModality } from '../modalities/index.js';
import { UsageError } from './command.js';

export interface ModelDirInfo {
  modality: EmbeddingModality;
  /** The registry name, e.g. "resnet50" or "bert-base-cased". */
  name: string;
}

/**
 * The modality of a model directory from its finetuner.json; undefined when the file is missing or not
 * a finetuner model (loadModel then says what is wrong, and the loaded model's `modality` decides).
 */
export async function peekModelDir(dir: string): Promise<ModelDirInfo | undefined> {
  let meta: { format?: unknown; task?: unknown; modality?: unknown; name?: unknown; backbone?: { task?: unknown } };
  try {
    meta = JSON.parse(await readFile(join(resolve(dir), METADATA_FILE), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof meta !== 'object' || meta === null) return undefined;
  const name = typeof meta.name === 'string' ? meta.name : dir;
  const byTask = (task: unknown) => MODALITIES.find((m) => m.task === task);
  const modality =
    meta.format === EMBEDDING_FORMAT ? (MODALITIES.find((m) => m.name === meta.modality) ?? byTask(meta.backbone?.task))
    : meta.format === BACKBONE_FORMAT ? byTask(meta.task)
    : undefined;
  return modality && { modality, name };
}

interface ModelFlag {
  /** Whether models of this modality take the flag. */
  takes(modality: EmbeddingModality): boolean;
  /** Belongs to a trunk and head (freezing the trunk, pooling, projection). */
  trunk?: boolean;
  /** Refused as a usage error (exit 2) rather than a model error (exit 1). */
  usage?: boolean;
}

const hasInput = (kind: string) => (m: EmbeddingModality) => m.inputs.some((input) => input.kind === kind);
const canFreeze = (how: EmbeddingModality['freezing'][number]) => (m: EmbeddingModality) => m.freezing.includes(how);
const hasHead = (m: EmbeddingModality) => m.poolings.length > 0;

/** Flags that only some models take, in the order messages name them. */
const MODEL_FLAGS: Record<string, ModelFlag> = {
  'image-size': { takes: hasInput('image') },
  'trainable-layers': { takes: canFreeze('layers'), trunk: true },
  'max-length': { takes: hasInput('text') },
  freeze: { takes: canFreeze('trunk'), trunk: true, usage: true },
  'output-dim': { takes: hasHead, trunk: true, usage: true },
  pooling: { takes: hasHead, trunk: true, usage: true },
  'freeze-tower': { takes: canFreeze('towers'), usage: true },
  'input-type': { takes: (m) => m.inputs.length > 1, usage: true },
};

/** The models that take `flag`, in messages: the input kind's models for an input's flag. */
function takersOf(flag: string): string {
  const takes = MODEL_FLAGS[flag]!.takes;
  const single = MODALITIES.filter((m) => m.inputs.length === 1 && takes(m));
  const labels = (single.length > 0 ? single : MODALITIES.filter(takes)).map((m) => m.modelsLabel);
  return labels.join(' and ');
}

/**
 * Refuses the flags (given: flag -> value; undefined or false is not given) that the model does not
 * take, naming them and what the model is.
 */
export function checkModelFlags(info: ModelDirInfo | undefined, modelDir: string, given: Record<string, unknown>): void {
  if (!info) return;
  const { modality } = info;
  const refused = Object.keys(MODEL_FLAGS).filter((flag) => given[flag] !== undefined && given[flag] !== false && !MODEL_FLAGS[flag]!.takes(modality));
  if (refused.length === 0) return;
  const listed = (flags: string[]) => flags.map((flag) => `--${flag}`).join(' and ');
  // A model with no trunk of its own (CLIP) refuses the trunk and head flags as a group, with its hint.
  const trunk = refused.filter((flag) => MODEL_FLAGS[flag]!.trunk);
  if (trunk.length > 0 && !modality.freezing.includes('trunk')) {
    const cli = modality.cli ?? { name: modality.modelsLabel, hint: '' };
    throw new UsageError(`${listed(trunk)} do${trunk.length > 1 ? '' : 'es'} not apply to ${cli.name} models (${info.name})${cli.hint ? `; ${cli.hint}` : ''}`);
  }
  const takers = takersOf(refused[0]!);
  const usage = MODEL_FLAGS[refused[0]!]!.usage ?? false;
  const same = refused.filter((flag) => takersOf(flag) === takers && (MODEL_FLAGS[flag]!.usage ?? false) === usage);
  const message =
    `${listed(same)} appl${same.length > 1 ? 'y' : 'ies'} to ${takers} models; --model ${modelDir} is ` +
    `${modality.described} model (${info.name})`;
  throw usage ? new UsageError(message) : new Error(message);
}

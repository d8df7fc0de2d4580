// What the verbs need to know about a --model directory before loading it: whether it embeds images or
// texts, read from DIR/finetuner.json (an exported backbone's task, or a saved model's modality), so
// inputs and options are checked before LibTorch starts.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { METADATA_FILE } from '../metadata.js';
import type { Modality } from '../model.js';

export interface ModelDirInfo {
  modality: Modality;
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
  if (meta.format === 'finetuner-embedding') {
    if (meta.modality === 'text' || meta.modality === 'image' || meta.modality === 'text-image') return { modality: meta.modality, name };
    const task = meta.backbone?.task;
    return typeof task === 'string' ? { modality: modalityOfTask(task), name } : undefined;
  }
  if (meta.format === 'finetuner-backbone' && typeof meta.task === 'string') {
    return { modality: modalityOfTask(meta.task), name };
  }
  return undefined;
}

function modalityOfTask(task: string): Modality {
  return task === 'text-to-text' ? 'text' : task === 'text-to-image' ? 'text-image' : 'image';
}

/** Options that only apply to one modality: an error naming the option and what the model is. */
export function checkModalityOptions(
  info: ModelDirInfo | undefined,
  modelDir: string,
  given: { image?: Record<string, unknown>; text?: Record<string, unknown> },
): void {
  if (!info || info.modality === 'text-image') return; // CLIP takes both
  const other = info.modality === 'text' ? given.image : given.text;
  const wrong = Object.entries(other ?? {}).filter(([, v]) => v !== undefined && v !== false).map(([k]) => `--${k}`);
  if (wrong.length === 0) return;
  const what = info.modality === 'text' ? 'image' : 'text (transformer)';
  throw new Error(
    `${wrong.join(' and ')} appl${wrong.length > 1 ? 'y' : 'ies'} to ${what} models; --model ${modelDir} is ` +
      `${info.modality === 'text' ? 'a text' : 'an image'} model (${info.name})`,
  );
}

// Every modality, in one list, and the one mapping from a task or a model directory's finetuner.json to
// its modality. Adding a modality: its file beside this one (the EmbeddingModality interface,
// modality.ts), one entry here, and its native side (native/modalities/).
import type { ModelDirMetadata } from '../metadata.js';
import type { Task } from '../registry.js';
import { imageInput, imageModality } from './image.js';
import type { EmbeddingModality, InputKind, InputKindUnit, Modality } from './modality.js';
import { textInput, textModality } from './text.js';
import { textImageModality } from './textImage.js';

export type { EmbeddingModality, InputKind, InputKindUnit, Modality } from './modality.js';

export const MODALITIES: readonly EmbeddingModality[] = [imageModality, textModality, textImageModality];
export const INPUT_KINDS: readonly InputKindUnit[] = [textInput, imageInput];

export function modalityNamed(name: Modality): EmbeddingModality {
  const modality = MODALITIES.find((m) => m.name === name);
  if (!modality) throw new TypeError(`unknown modality ${JSON.stringify(name)}: use ${MODALITIES.map((m) => m.name).join(', ')}`);
  return modality;
}

export function modalityOfTask(task: Task): EmbeddingModality {
  const modality = MODALITIES.find((m) => m.task === task);
  if (!modality) throw new TypeError(`unknown task ${JSON.stringify(task)}: use ${MODALITIES.map((m) => m.task).join(', ')}`);
  return modality;
}

/**
 * The modality of a model directory from its finetuner.json: a saved model's `modality` (older saves
 * have only their backbone's task), or a backbone's task.
 */
export function modalityOfMetadata(meta: ModelDirMetadata): EmbeddingModality {
  if ('backbone' in meta) {
    const named = MODALITIES.find((m) => m.name === meta.modality);
    return named ?? modalityOfTask(meta.backbone.task);
  }
  return modalityOfTask(meta.task);
}

export function inputKindNamed(kind: InputKind): InputKindUnit {
  return INPUT_KINDS.find((unit) => unit.kind === kind)!;
}

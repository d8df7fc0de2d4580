// What building any modality's model shares: the metadata every saved model carries, option checks, the
// tokenizer of text towers and the image size of image towers. A modality's build and restore return
// ModelParts; loadModel turns them into the EmbeddingModel (so the modalities never import the class).

import { insideFolder, requireRegularFile } from '../jsonFile.js';
import { join } from 'node:path';
import type { NativeEmbeddingModel, NativePooling } from '../binding.js';
import {
  EMBEDDING_FORMAT, EMBEDDING_FORMAT_VERSION, METADATA_FILE, type BackboneMetadata, type EmbeddingMetadata, type ImagePreprocessing,
} from '../metadata.js';
import { checkNumber } from '../numericOption.js';
import { OPTION_RANGES } from '../optionRanges.js';
import { checkVocabularyFits, TextTokenizer } from '../text/tokenizer.js';

export interface ModelParts {
  native: NativeEmbeddingModel;
  metadata: EmbeddingMetadata;
  tokenizer?: TextTokenizer;
}


/** The preprocessing with the crop set to `imageSize` (the resize scales with it). */
export function scaledPreprocessing(prep: ImagePreprocessing, imageSize: number | undefined): ImagePreprocessing {
  if (imageSize === undefined) return prep;
  const crop = checkNumber(imageSize, 'imageSize', OPTION_RANGES.imageSize);
  return { ...prep, crop, resize: Math.max(crop, Math.round((crop * prep.resize) / prep.crop)) };
}

/** The model directory's tokenizer.json, at `maxLength` tokens, checked against the model's vocabulary. */
export async function readTokenizer(root: string, tokenizerFile: string | null | undefined, vocabSize: number, maxLength: number | undefined) {
  if (!tokenizerFile) {
    throw new Error(
      `${join(root, METADATA_FILE)}: the model has no tokenizer.json; export it from a Hugging Face folder that has one ` +
        '(--weights DIR) or pass --tokenizer FILE to the exporter',
    );
  }
  const file = await requireRegularFile(insideFolder(root, tokenizerFile, 'text.tokenizer', join(root, METADATA_FILE)), 'tokenizer');
  const tokenizer = await TextTokenizer.fromFile(file, maxLength === undefined ? {} : { maxLength: checkNumber(maxLength, 'maxLength', OPTION_RANGES.maxLength) });
  checkVocabularyFits(tokenizer, vocabSize, join(root, METADATA_FILE));
  return tokenizer;
}

/** The fields of a new model's finetuner.json that do not depend on its modality. */
export function baseMetadata(backbone: BackboneMetadata, native: NativeEmbeddingModel, pooling: EmbeddingMetadata['pooling'], normalize: boolean) {
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

export function checkPooling(pooling: NativePooling, allowed: readonly NativePooling[]): NativePooling {
  if (!allowed.includes(pooling)) {
    throw new TypeError(`option 'pooling' must be one of ${allowed.join(', ')} for this model, got ${JSON.stringify(pooling)}`);
  }
  return pooling;
}

/** Image and text models: a frozen trunk; tower freezing is CLIP's; layers only for transformers. */
export function checkTrunkFreezing(settings: { freeze: string; trainableLayers: number }, layers = false): void {
  if (settings.freeze === 'image' || settings.freeze === 'text') {
    throw new TypeError(`option 'freeze' '${settings.freeze}' freezes a CLIP tower; this is not a CLIP (text-to-image) model`);
  }
  if (settings.trainableLayers > 0 && !layers) throw new TypeError("option 'freeze.trainableLayers' is for transformer (text-to-text) models");
}

/**
 * The model file a finetuner.json names (a backbone's or a saved model's): inside its folder, and a
 * regular file (a FIFO would block the compute thread).
 */
export function modelFileIn(root: string, model: string): Promise<string> {
  return requireRegularFile(insideFolder(root, model, 'model', join(root, METADATA_FILE)), 'model file');
}

// CLIP models (task text-to-image): texts and images into one shared space, the two towers of the
// exported model. Either kind of input encodes (lib/modalities/text.ts, image.ts); training data is
// matching (text, image) pairs (CLIPLoss, learned temperature); evaluation is retrieval both ways.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NativeBinding, NativeDevice, NativeEmbeddingModel } from '../binding.js';
import { readTextImageData, type TextImageData, type TextImageInput } from '../data/textImageCsv.js';
import type { LoadModelOptions } from '../loadModel.js';
import type { BackboneMetadata, ClipBackboneMetadata, EmbeddingMetadata } from '../metadata.js';
import { textImageTask, type TrainingTask } from '../trainingTasks.js';
import { imageInput } from './image.js';
import type { EmbeddingModality } from './modality.js';
import { modelFileIn, baseMetadata, readTokenizer, scaledPreprocessing, type ModelParts } from './modelParts.js';
import { searchPrecisionOf, textImageRetrieval } from './retrieval.js';
import { textInput } from './text.js';

/** CLIP's default learning rate: ten times below the others (fine-tuning CLIP is fragile). */
export const CLIP_LEARNING_RATE = 1e-5;

const IMAGE_EXTENSION = /\.(jpe?g|png|webp|gif|tiff?|bmp|avif|heic|heif)$/i;

const CLIP_INPUTS = {
  encode_pixels: 'uint8 tensor N x H x W x 3 (RGB, resized and centre-cropped as in preprocessing) -> N x D, L2-normalised',
  encode_tokens: 'input_ids, attention_mask, token_type_ids: int tensors N x L (padded; mask 0 on padding; token types ignored) -> N x D, L2-normalised',
  encode_images: 'float32 tensor N x 3 x H x W, scaled to [0, 1] and normalised with preprocessing.mean/std',
} as const;

export const textImageModality: EmbeddingModality = {
  name: 'text-image',
  task: 'text-to-image',
  described: 'a CLIP (text-to-image)',
  modelsLabel: 'CLIP (text-to-image)',
  inputs: [textInput, imageInput],
  poolings: [],
  freezing: ['towers'],
  learningRate: CLIP_LEARNING_RATE,
  progressUnit: 'img',
  cli: { name: 'CLIP', hint: 'use --freeze-tower image|text' },
  learnedTemperature: true,

  // Strings are texts, unless every input is an image (Buffers, raw pixels, or paths with an image
  // extension that exist); a mix is refused.
  inputKindOf(inputs) {
    const isImage = (x: unknown) => typeof x !== 'string' || (IMAGE_EXTENSION.test(x) && existsSync(x));
    const images = inputs.filter(isImage).length;
    if (images === 0) return textInput;
    if (images === inputs.length) return imageInput;
    const first = inputs.findIndex((x) => !isImage(x));
    throw new TypeError(
      `encode got ${images} image(s) and ${inputs.length - images} text(s) (first text at index ${first}); ` +
        'a CLIP model encodes one kind per call: use encodeText(texts) and encodeImage(images)',
    );
  },

  async build(binding: NativeBinding, root: string, meta: BackboneMetadata, device: NativeDevice, options: LoadModelOptions): Promise<ModelParts> {
    const backbone = meta as ClipBackboneMetadata;
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
    const native = await binding.buildFromBackbone(await modelFileIn(root, backbone.model), {
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
    return { native, metadata, tokenizer };
  },

  async restore(native: NativeEmbeddingModel, root: string, metadata: EmbeddingMetadata, options: LoadModelOptions): Promise<ModelParts> {
    const tokenizer = await readTokenizer(root, metadata.text?.tokenizer, metadata.text?.vocabSize ?? 0, options.maxLength ?? metadata.text?.maxLength);
    return {
      native,
      metadata: {
        ...metadata,
        modality: 'text-image',
        text: { ...metadata.text!, maxLength: tokenizer.maxLength },
        preprocessing: scaledPreprocessing(metadata.preprocessing!, options.imageSize),
      },
      tokenizer,
    };
  },

  readData: (input, option) => readTextImageData(input as string | TextImageInput, option),
  lossKind: () => 'text-image',
  checkFreezing(settings) {
    if (settings.freeze === 'trunk') {
      throw new TypeError("option 'freeze': a CLIP model has two towers and no separate trunk; use 'image' or 'text' to freeze one");
    }
  },
  checkBatching: () => undefined, // pairs: trainingTask refuses too few rows
  classCount: () => undefined,
  trainingTask: (model, data, settings) => textImageTask(model, data as TextImageData, settings),
  evaluationInput: (data) => (data as TextImageData).pairs,

  async evaluate(model, options, k) {
    if (options.index !== undefined) throw new Error("option 'index' does not apply to text-image pairs: the pairs' images (and texts) are the index");
    const data = await readTextImageData(options.queries as string | TextImageInput, 'queries');
    return textImageRetrieval(
      (texts) => model.encodeText(texts as string[], { batchSize: options.batchSize }),
      (images) => model.encodeImage(images as TextImageData['pairs'][number]['image'][], options),
      data,
      k,
      searchPrecisionOf(model),
    );
  },
};

// The modality interface of the TypeScript side: what a model embeds (images, texts, or both into one
// space for CLIP) and everything the library and the CLI do differently for it, so that no other file
// switches on the kind of model. One implementation per file beside this one (image.ts, text.ts,
// textImage.ts); index.ts lists them and maps a task to its modality. The native side mirrors this in
// native/modalities/.
//
// A modality is made of input kinds (images, texts): how one kind of input is checked and prepared for
// the native encode. CLIP has both; single-modality models have one.

import type { BatcherFormat } from '../batcherLane.js';
import type { NativeBatch, NativeBinding, NativeDevice, NativeEmbeddingModel, NativeModality, NativePooling } from '../binding.js';
import type { ImageBatch, ImageInput } from '../data/images.js';
import type { TextDataKind } from '../data/textCsv.js';
import type { PreparedBatch } from '../encodePipeline.js';
import type { EvaluateOptions, EvaluationResult } from '../evaluate.js';
import type { LoadModelOptions } from '../loadModel.js';
import type { BackboneMetadata, EmbeddingMetadata } from '../metadata.js';
import type { EmbeddingModel } from '../model.js';
import type { Task } from '../registry.js';
import type { TextTokenizer } from '../text/tokenizer.js';
import type { BatchSettings, TrainingTask } from '../trainingTasks.js';
import type { ModelParts } from './modelParts.js';

export type Modality = NativeModality;
/** What one batch holds. */
export type InputKind = 'image' | 'text';

/** The part of a model the encode pipeline and the input kinds use. */
export interface EncodingModel {
  readonly name: string;
  readonly modality: Modality;
  readonly outputDim: number;
  readonly disposed: boolean;
  /** Text and CLIP models. */
  readonly tokenizer: TextTokenizer;
  loadImages(inputs: readonly ImageInput[], sources?: ReadonlyArray<string | undefined>): Promise<ImageBatch>;
  encodeBatch(batch: NativeBatch): Promise<Float32Array>;
}

/** One kind of input: how its items are checked and batched for the native encode. */
export interface InputKindUnit {
  readonly kind: InputKind;
  /** 'images', 'texts': in messages. */
  readonly plural: string;
  /** What an array of them is, in messages: 'strings', 'images (paths, Buffers or raw pixels)'. */
  readonly arrayDescribed: string;
  /** Progress bars' unit: 'img', 'text'. */
  readonly progressUnit: string;
  /** Whether inputs can be truncated (texts, to the model's maximum length): progress then counts them. */
  readonly truncates: boolean;
  /** A model of a single modality of this kind, in messages: 'image', 'text (transformer)'. */
  readonly modelsLabel: string;
  /**
   * A batch of stream items, checked and prepared; `start` is the first item's index in the stream, and
   * errors name the item (`item 12345: ...`).
   */
  prepareItems(model: EncodingModel, items: readonly unknown[], start: number): Promise<PreparedBatch>;
  /** An array to encode, cut into batches (texts: of similar length) whose rows go back in input order. */
  encodeArray(model: EncodingModel, inputs: readonly unknown[], batchSize: number, onBatch: (done: number, truncated: number) => void): Promise<Float32Array>;
  /** The dynamic batcher's queue of this kind (lib/batcherLane.ts): how requests are prepared and grouped. */
  batcherFormat(model: EncodingModel, limits: { maxBatchSize: number; maxBatchTokens: number }): BatcherFormat;
}

export type FrozenPart = 'none' | 'trunk' | 'image' | 'text';

/** Training settings a modality checks and completes (fit's resolved options). */
export interface FreezeSettings {
  freeze: FrozenPart;
  trainableLayers: number;
}

/** What training data holds, which decides its loss (trainingTasks.lossFor). */
export type DataKind = 'images' | 'text-image' | TextDataKind;

/** Parsed training or evaluation data of a modality (its own shape; only the modality reads inside). */
export type ModalityData = unknown;

export type { BatchSettings } from '../trainingTasks.js';

export interface EmbeddingModality {
  readonly name: Modality;
  /** The registry's task of this modality's backbones. */
  readonly task: Task;
  /** The model in a sentence: 'an image', 'a text', 'a CLIP (text-to-image)' (+ ' model'). */
  readonly described: string;
  /** Models of this modality in messages ('applies to ... models'). */
  readonly modelsLabel: string;
  /** What encode takes; with more than one, the caller says which (or the inputs show it). */
  readonly inputs: readonly InputKindUnit[];
  /** Poolings a backbone of this modality can be built with; none when the model pools by itself (CLIP). */
  readonly poolings: readonly NativePooling[];
  /** How it can be frozen: the whole trunk, the trunk but its top layers, or one of two towers. */
  readonly freezing: readonly ('trunk' | 'layers' | 'towers')[];
  /** fit()'s default learning rate, where it differs from the general one. */
  readonly learningRate?: number;
  /** Progress bars' unit of an evaluation or encode of this model: 'img', 'text'. */
  readonly progressUnit: string;
  /** How the CLI names these models when it refuses a trunk or head flag ('CLIP'), and what it suggests. */
  readonly cli?: { name: string; hint: string };
  /** Whether the model has a learned temperature (CLIP's logit scale). */
  readonly learnedTemperature: boolean;
  /** Models with more than one input kind: which one an array of inputs holds (refusing a mix). */
  inputKindOf?(inputs: readonly unknown[]): InputKindUnit;

  /** An exported backbone as an embedding model of this modality (head removed, pooled, ...). */
  build(binding: NativeBinding, root: string, backbone: BackboneMetadata, device: NativeDevice, options: LoadModelOptions): Promise<ModelParts>;
  /** The JS side of a saved model whose native module has loaded (tokenizer, preprocessing). */
  restore(native: NativeEmbeddingModel, root: string, metadata: EmbeddingMetadata, options: LoadModelOptions): Promise<ModelParts>;

  /** Training or evaluation data: a CSV path or an array, in this modality's forms. */
  readData(input: unknown, option: string): Promise<ModalityData>;
  /** The loss a kind of data trains with (trainingTasks.lossFor's kind). */
  lossKind(data: ModalityData): DataKind;
  /** Refuses freezing this modality does not have; fails before anything loads. */
  checkFreezing(settings: FreezeSettings): void;
  /**
   * Refuses batch settings the data cannot be sampled with, before the model loads; says (a message for
   * fit's warnings) how it adjusted settings it could not take as given.
   */
  checkBatching(data: ModalityData, settings: BatchSettings): string | undefined;
  /** How many classes labelled data holds (sizes the class weights of ArcFace-like losses); undefined without labels. */
  classCount(data: ModalityData): number | undefined;
  trainingTask(model: EmbeddingModel, data: ModalityData, settings: BatchSettings): TrainingTask;
  /** fit's evalData in the form evaluate() takes. */
  evaluationInput(data: ModalityData): EvaluateOptions['queries'];
  /** Retrieval metrics of `model` on `options.queries` (and `options.index`), or correlations on scored pairs. */
  evaluate(model: EmbeddingModel, options: EvaluateOptions, k: number): Promise<EvaluationResult>;
}

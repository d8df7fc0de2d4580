// The public embedding model (from loadModel): encodes images or texts, saves, and is disposed. Native
// work runs on worker threads. Every encode goes through the one pipeline of lib/encodePipeline.ts, each
// kind of input prepared as its modality says (lib/modalities/): image decoding of the next batch
// overlaps encoding of the current one, and texts are encoded in length-sorted batches.

import { existsSync } from 'node:fs';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EncodeBatcher, type BatcherOptions } from './batcher.js';
import type { NativeBatch, NativeDevice, NativeEmbeddingModel, NativeModality, NativePooling } from './binding.js';
import { loadImageBatch, type ImageBatch, type ImageInput } from './data/images.js';
import type { Embeddings } from './encodePipeline.js';
import {
  encodeIterator, encodeStream, type EncodedRows, type EncodeIteratorOptions, type EncodeStreamOptions, type EncodeStreamResult, type StreamSource,
} from './encodeStream.js';
import { rethrowWithCallerStack } from './errors.js';
import { checkNumber } from './numericOption.js';
import { OPTION_RANGES } from './optionRanges.js';
import { METADATA_FILE, type EmbeddingMetadata, type ImagePreprocessing } from './metadata.js';
import { inputKindNamed, modalityNamed, type EmbeddingModality, type InputKind, type InputKindUnit } from './modalities/index.js';
import { exportModelOnnx, type OnnxExportOptions, type OnnxExportResult } from './onnxExport.js';
import { stageOutputDir, type StagedOutput } from './outputDir.js';
import { resolvePrecision, type Precision, type ResolvedPrecision } from './precision.js';
import type { EncodedBatch, TextTokenizer } from './text/tokenizer.js';

export type Device = 'cpu' | 'cuda' | 'auto';
export type Pooling = NativePooling;
export type Modality = NativeModality;
export type { Embeddings } from './encodePipeline.js';
export { EMBEDDING_FORMAT, EMBEDDING_FORMAT_VERSION, type EmbeddingMetadata } from './metadata.js';

export const TOKENIZER_FILE = 'tokenizer.json';
export const MODEL_FILE = 'model.pt';

export interface TextEncodeProgress {
  done: number;
  total: number;
  /** Texts cut to the tokenizer's maxLength so far. */
  truncated: number;
}

export interface EncodeOptions {
  /** Inputs per native call. Default 32. */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface TextEncodeOptions {
  batchSize?: number;
  /** Also reports how many texts were truncated to the model's maximum length. */
  onProgress?: (progress: TextEncodeProgress) => void;
}

export interface SaveOptions {
  /** Stored in finetuner.json under "training". */
  training?: unknown;
}


/** A loaded embedding model. Call dispose() (or use `await using`) to free its native memory. */
export class EmbeddingModel {
  readonly metadata: EmbeddingMetadata;
  private readonly native: NativeEmbeddingModel;
  private readonly textTokenizer?: TextTokenizer;
  private readonly unit: EmbeddingModality;

  /** @internal Use loadModel. */
  constructor(native: NativeEmbeddingModel, metadata: EmbeddingMetadata, tokenizer?: TextTokenizer) {
    this.native = native;
    this.metadata = metadata;
    this.textTokenizer = tokenizer;
    this.unit = modalityNamed(metadata.modality);
  }

  get name(): string {
    return this.metadata.name;
  }
  get modality(): Modality {
    return this.metadata.modality;
  }
  get outputDim(): number {
    return this.native.outputDim;
  }
  get device(): NativeDevice {
    return this.native.device;
  }
  /** Image and CLIP models: resize, crop, interpolation, mean and std. */
  get preprocessing(): ImagePreprocessing {
    if (!this.metadata.preprocessing) throw new Error(`${this.name} is a text model: it has no image preprocessing`);
    return this.metadata.preprocessing;
  }
  /** Text and CLIP models: the tokenizer read from the model's tokenizer.json. */
  get tokenizer(): TextTokenizer {
    if (!this.textTokenizer) throw new Error(`${this.name} is an image model: it has no tokenizer`);
    return this.textTokenizer;
  }
  get disposed(): boolean {
    return this.native.disposed;
  }

  /** Precision of encode and training forwards ('fp32', 'bf16', 'fp16' or 'int8', which trains in fp32). */
  get precision(): ResolvedPrecision {
    this.checkAlive();
    return this.native.precision;
  }

  /**
   * Switches encode and training to another precision: 'bf16' / 'fp16' autocast (matrix multiplies and
   * convolutions in the reduced type, losses in float32), 'int8' (encode only: linear layers dynamically
   * quantized on the CPU; training forwards stay float32), 'fp32', or 'auto'.
   */
  setPrecision(precision: Precision): void {
    this.checkAlive();
    this.native.setPrecision(resolvePrecision(precision, this.native.device));
  }

  /** @internal The raw binding object, for fit(). */
  get nativeModel(): NativeEmbeddingModel {
    this.checkAlive();
    return this.native;
  }

  parameterCount(): { total: number; trainable: number } {
    this.checkAlive();
    return this.native.parameterCount();
  }

  /** Decodes, resizes and crops images as the model expects (sharp, off the event loop). */
  loadImages(inputs: readonly ImageInput[], sources?: ReadonlyArray<string | undefined>): Promise<ImageBatch> {
    return loadImageBatch(inputs, this.preprocessing, sources ? { sources } : {});
  }

  /** Tokenizes, truncates and pads texts into one batch, in the order given. */
  tokenize(texts: readonly string[], source = 'texts'): EncodedBatch {
    return this.tokenizer.encodeBatch(texts, { source });
  }

  /** Encodes an already prepared batch: pixels (uint8 NHWC RGB at the input size) or token ids. */
  async encodeBatch(batch: NativeBatch): Promise<Float32Array> {
    this.checkAlive();
    const caller = new Error();
    try {
      const embeddings = await this.native.encode(batch);
      // A finetuner.json whose embeddingDim or trunk does not match model.pt makes the module produce
      // rows of another width; read with this width they would scramble (two embeddings in one row,
      // zeros in another).
      if (embeddings.length !== batch.rows * this.outputDim) {
        const produced = batch.rows > 0 ? embeddings.length / batch.rows : 0;
        throw new Error(
          `${this.metadata.name}: the model produced ${produced}-dim embeddings, but its finetuner.json says ${this.outputDim} ` +
            '(embeddingDim or trunk does not match model.pt: re-export the backbone)',
        );
      }
      return embeddings;
    } catch (error) {
      rethrowWithCallerStack(error, caller);
    }
  }

  /**
   * Encodes images (file paths, encoded image Buffers or raw pixels) for an image model, or strings for
   * a text model, into one row per input, in input order. CLIP models take either: strings are texts,
   * unless every input is an image (Buffers, raw pixels, or paths with an image extension that exist);
   * a mix is an error (use encodeText / encodeImage to say which).
   */
  async encode(inputs: readonly ImageInput[] | readonly string[], options: EncodeOptions = {}): Promise<Embeddings> {
    this.checkAlive();
    const kinds = this.unit.inputs;
    if (!Array.isArray(inputs)) {
      const what = kinds.length === 1 ? kinds[0]!.arrayDescribed : kinds.map((kind) => kind.plural).join(' or ');
      throw new TypeError(`encode needs an array of ${what}`);
    }
    const kind = kinds.length === 1 ? kinds[0]! : this.unit.inputKindOf!(inputs);
    return this.encodeArray(kind, inputs, options.batchSize, options.onProgress && ((done) => options.onProgress!(done, inputs.length)));
  }

  /** Encodes texts in batches of similar token length; rows come back in input order. */
  async encodeTexts(texts: readonly string[], options: TextEncodeOptions = {}): Promise<Embeddings> {
    this.checkAlive();
    const onProgress = options.onProgress;
    return this.encodeArray(this.inputKind('text'), texts, options.batchSize, onProgress && ((done, truncated) => onProgress({ done, total: texts.length, truncated })));
  }

  /** CLIP and text models: texts into the (shared) embedding space, rows in input order. */
  async encodeText(texts: readonly string[], options: TextEncodeOptions = {}): Promise<Embeddings> {
    return this.encodeTexts(texts, options);
  }

  /** CLIP and image models: images (paths, encoded Buffers or raw pixels) into the embedding space. */
  async encodeImage(images: readonly ImageInput[], options: EncodeOptions = {}): Promise<Embeddings> {
    this.checkAlive();
    const kind = this.inputKind('image');
    if (!Array.isArray(images)) throw new TypeError('encodeImage needs an array of images (paths, Buffers or raw pixels)');
    return this.encodeArray(kind, images, options.batchSize, options.onProgress && ((done) => options.onProgress!(done, images.length)));
  }

  /**
   * Encodes a stream (an iterable or async iterable of items, pulled batch by batch) into a float32 .npy
   * file written as it goes (`out`: resolves to { file, rows, dim }), or into memory without `out`. The
   * next batch is prepared while the current one encodes; memory stays flat. See lib/encodeStream.ts.
   */
  encodeStream(source: StreamSource, options: EncodeStreamOptions & { out: string }): Promise<EncodeStreamResult>;
  encodeStream(source: StreamSource, options?: EncodeStreamOptions & { out?: undefined }): Promise<Embeddings>;
  encodeStream(source: StreamSource, options?: EncodeStreamOptions): Promise<EncodeStreamResult | Embeddings>;
  encodeStream(source: StreamSource, options: EncodeStreamOptions = {}): Promise<EncodeStreamResult | Embeddings> {
    return encodeStream(this, source, options);
  }

  /** Encodes a stream batch by batch, yielding { start, rows, dim, data } per batch in input order. */
  encodeIterator(source: StreamSource, options: EncodeIteratorOptions = {}): AsyncGenerator<EncodedRows, void, undefined> {
    return encodeIterator(this, source, options);
  }

  /**
   * A dynamic batcher on this model (lib/batcher.ts): its encode / encodeMany may be called from many
   * places at once, and calls that arrive together are encoded in one native batch, each caller getting
   * its own rows. For servers and other concurrent callers; one big array is as fast through encode().
   */
  batcher(options: BatcherOptions = {}): EncodeBatcher {
    this.checkAlive();
    return new EncodeBatcher(this, options);
  }

  /** CLIP models: the learned temperature, exp(logit_scale) (100 at most). */
  get temperature(): number {
    this.checkAlive();
    if (!this.unit.learnedTemperature) throw new Error(`${this.name} is not a CLIP model: it has no learned temperature`);
    return Math.exp(this.native.logitScale());
  }

  /**
   * @internal Encodes an array of one kind of input ('image' or 'text') that this model embeds: the path
   * of the CLI, whatever the modality. `onBatch` gets the inputs done and the texts truncated so far.
   */
  async encodeInputs(
    kind: InputKind, inputs: readonly unknown[], options: { batchSize?: number; onBatch?: (done: number, truncated: number) => void } = {},
  ): Promise<Embeddings> {
    this.checkAlive();
    return this.encodeArray(this.inputKind(kind), inputs, options.batchSize, options.onBatch);
  }

  /** The input kind `kind` of this model's modality; refuses a kind it does not embed. */
  private inputKind(kind: InputKind): InputKindUnit {
    const unit = this.unit.inputs.find((input) => input.kind === kind);
    if (!unit) throw new Error(`${this.name} is ${this.unit.described} model: it cannot encode ${inputKindNamed(kind).plural}`);
    return unit;
  }

  /** Any array encode: the input kind cuts it into batches, the one pipeline encodes them. */
  private async encodeArray(
    kind: InputKindUnit, inputs: readonly unknown[], batchSize: number | undefined, onBatch?: (done: number, truncated: number) => void,
  ): Promise<Embeddings> {
    const caller = new Error();
    const size = checkNumber(batchSize ?? 32, 'batchSize', OPTION_RANGES.batchSize);
    try {
      const data = await kind.encodeArray(this, inputs, size, onBatch ?? (() => undefined));
      return { rows: inputs.length, dim: this.outputDim, data };
    } catch (error) {
      rethrowWithCallerStack(error, caller);
    }
  }

  /**
   * Writes the model to `dir` as model.pt (TorchScript: `torch.jit.load` in Python, no finetuner needed),
   * finetuner.json and, for text models, tokenizer.json. `dir` must be new, empty or a finetuner model
   * (anything else is refused, never deleted). Everything is written into a staging folder beside `dir`
   * that replaces it in one step (lib/outputDir.ts), so `dir` is at every instant the old model or the new.
   */
  async save(dir: string, options: SaveOptions = {}): Promise<void> {
    this.checkAlive();
    const caller = new Error();
    let staged: StagedOutput | undefined;
    try {
      staged = await stageOutputDir(dir, { option: 'save: dir' });
      await this.saveStaged(staged, options);
    } catch (error) {
      await staged?.abort();
      rethrowWithCallerStack(error, caller);
    }
  }

  /** Writes into a folder staged by stageOutputDir (fit stages it before training) and commits it. */
  async saveStaged(staged: StagedOutput, options: SaveOptions = {}): Promise<void> {
    await this.writeStaged(staged, options);
    await staged.commit();
  }

  /** Writes the model's files into a staged folder without committing it (checkpoints add their own). */
  async writeStaged(staged: StagedOutput, options: SaveOptions = {}): Promise<void> {
    this.checkAlive();
    // A fixed name: a path taken from finetuner.json could point outside the folder.
    await this.native.save(join(staged.staging, MODEL_FILE));
    const metadata: EmbeddingMetadata = { ...this.metadata, model: MODEL_FILE, outputDim: this.outputDim };
    if (this.textTokenizer) {
      await copyFile(this.textTokenizer.file, join(staged.staging, TOKENIZER_FILE));
      metadata.text = { ...metadata.text!, tokenizer: TOKENIZER_FILE };
    }
    if (options.training !== undefined) metadata.training = options.training;
    await writeFile(join(staged.staging, METADATA_FILE), `${JSON.stringify(metadata, null, 2)}\n`);
  }

  /**
   * Writes the model as ONNX at `path` (CLIP: PATH-image.onnx and PATH-text.onnx), with tokenizer.json
   * and PATH.preprocessing.json beside it, for onnxruntime and other runtimes (lib/onnxExport.ts; needs
   * Python with torch). Resolves to the files written.
   */
  async exportOnnx(path: string, options: OnnxExportOptions = {}): Promise<OnnxExportResult> {
    this.checkAlive();
    const caller = new Error();
    try {
      return await exportModelOnnx(this, path, options);
    } catch (error) {
      rethrowWithCallerStack(error, caller);
    }
  }

  /** Frees the native model now; safe to call twice. Methods called afterwards throw. */
  dispose(): void {
    this.native.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  private checkAlive(): void {
    if (this.native.disposed) throw new Error(`the model ${this.metadata.name} has been disposed`);
  }
}

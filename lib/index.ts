// finetuner: fine-tune and serve embedding models from Node.js, on LibTorch.
export { describeModels, listModels, getModel } from './registry.js';
export type { ModelInfo, Task, DescribeOptions, DescribeRow } from './registry.js';
export { exportModel } from './export.js';
export { readMetadata } from './metadata.js';
export type { BackboneMetadata, ImagePreprocessing } from './metadata.js';
export { loadModel, EmbeddingModel } from './model.js';
export type { Device, Pooling, LoadModelOptions, EncodeOptions, Embeddings, EmbeddingMetadata, SaveOptions } from './model.js';
export { fit } from './fit.js';
export type { FitOptions, FitResult, FitProgress, EpochRecord, Loss } from './fit.js';
export { evaluate } from './evaluateModel.js';
export type { EvaluateOptions, RetrievalMetrics } from './evaluateModel.js';
export { computeRetrievalMetrics } from './evaluate.js';
export { readLabelledCsv } from './data/csv.js';
export type { ImageInput, RawImage } from './data/images.js';
export { runtimeInfo, NativeLoadError } from './loader.js';
export type { RuntimeInfo } from './loader.js';

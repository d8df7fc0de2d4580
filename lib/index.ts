// finetuner: fine-tune and serve embedding models from Node.js, on LibTorch.
export { describeModels, listModels, getModel } from './registry.js';
export type { ModelInfo, Task, DescribeOptions, DescribeRow } from './registry.js';
export { exportModel } from './export.js';
export { exportOnnxFromDir, ONNX_FORMAT } from './onnxExport.js';
export type { OnnxExportOptions, OnnxExportResult } from './onnxExport.js';
export { readMetadata } from './metadata.js';
export { isTextBackbone, isClipBackbone } from './metadata.js';
export type {
  BackboneMetadata, ImageBackboneMetadata, TextBackboneMetadata, ClipBackboneMetadata, ClipInfo, ImagePreprocessing, TextPreprocessing,
} from './metadata.js';
export { TextTokenizer } from './text/tokenizer.js';
export { EmbeddingModel } from './model.js';
export type { Device, Pooling, Modality, EncodeOptions, TextEncodeOptions, Embeddings, EmbeddingMetadata, SaveOptions } from './model.js';
export { encodeStream, encodeIterator } from './encodeStream.js';
export type {
  EncodeStreamOptions, EncodeIteratorOptions, EncodeStreamResult, EncodedRows, StreamKind, StreamItem, StreamProgress, StreamSource,
} from './encodeStream.js';
export { EncodeBatcher, QueueFullError, InputTooLongError, BatcherInputError, BatcherClosedError, BATCHER_DEFAULTS } from './batcher.js';
export type { BatcherOptions, BatcherRequestOptions, BatchInfo } from './batcher.js';
export { NpyWriter } from './npyWriter.js';
export type { NpyWriterResult } from './npyWriter.js';
export { loadModel } from './loadModel.js';
export type { LoadModelOptions } from './loadModel.js';
export { fit } from './fit.js';
export { readDistributedEnvironment, DISTRIBUTED_VARIABLES, type DistributedEnvironment } from './distributed/environment.js';
export type { DistributedOptions } from './distributed/processGroup.js';
export { computeLoss } from './losses/computeLoss.js';
export type { ComputeLossEmbeddings, ComputeLossOptions, ComputeLossResult } from './losses/computeLoss.js';
export { SCHEDULERS } from './schedule.js';
export { SAMPLERS } from './data/batchSamplers.js';
export type { SamplerName } from './data/batchSamplers.js';
export type { Scheduler } from './schedule.js';
export { OPTIMIZERS } from './optimizers.js';
export type { Optimizer, OptimizerDescriptor } from './optimizers.js';
export type { FitOptions, FitResult, FitProgress, EpochRecord, Loss, LossOptions } from './fit.js';
export { BestModelCheckpoint, EarlyStopping, EvaluationCallback, TrainingCheckpoint, WiseFt, BUILT_IN_CALLBACKS } from './callbacks/index.js';
export type {
  TrainingCallback, TrainingContext, CallbackResult, KeptModel, MonitorMode, MonitorOptions, BestModelCheckpointOptions, EarlyStoppingOptions,
  EvaluationCallbackOptions, EvaluationRecord, TrainingCheckpointOptions, WiseFtOptions,
} from './callbacks/index.js';
export { TrainingInterruptedError } from './trainingLoop.js';
export { CHECKPOINT_FILE, TRAINING_STATE_FILE } from './checkpoints.js';
export { evaluate, isSimilarityMetrics, metricsByName, retrievalOf } from './evaluate.js';
export type { EvaluateOptions, RetrievalMetrics, EvaluationResult, RetrievalEvaluation, SimilarityMetrics, ImageToTextMetrics } from './evaluate.js';
export { computeRetrievalMetrics } from './metrics.js';
export type { EmbeddingSet, RetrievalMetricsOptions } from './metrics.js';
export { searchTopK, SEARCH_PRECISIONS } from './search.js';
export type { SearchOptions, SearchResult, SearchPrecision } from './search.js';
export { EmbeddingIndex } from './embeddingIndex.js';
export type { SearchHit, IndexSearchOptions, EncodeSearchOptions, IndexEncoder } from './embeddingIndex.js';
export { readLabelledCsv } from './data/csv.js';
export { readTextImageCsv } from './data/textImageCsv.js';
export type { TextImageInput, TextImageData, TextImagePair } from './data/textImageCsv.js';
export type { ImageInput, RawImage } from './data/images.js';
export { runtimeInfo, setNumThreads, defaultThreads, NativeLoadError } from './addonLoader.js';
export type { RuntimeInfo } from './addonLoader.js';
export { launchWorkers, WorkerFailedError, LaunchInterruptedError, LAUNCH_DEFAULTS } from './distributed/launcher.js';
export type { LaunchOptions, LaunchResult, WorkerExit } from './distributed/launcher.js';
export { serve } from './serve/server.js';
export type { RunningServer } from './serve/server.js';
export type { ServeOptions } from './serve/options.js';

#include "embedding_model.h"

#include "addon.h"
#include "encode_worker.h"
#include "interpolate_worker.h"
#include "napi_options.h"
#include "save_worker.h"
#include "train_step_worker.h"

namespace finetuner {
namespace {

// Labels, groups and scores are one number per row: copying them is simpler than holding a reference.
torch::Tensor rowValues(const Napi::Value& value, const char* name, napi_typedarray_type type, int64_t rows) {
  Napi::Env env = value.Env();
  const char* typeName = type == napi_int32_array ? "an Int32Array" : "a Float32Array";
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) {
    throwTypeError(env, std::string(name) + " must be " + typeName);
  }
  auto array = value.As<Napi::TypedArray>();
  if (static_cast<int64_t>(array.ElementLength()) != rows) {
    throwRangeError(env, std::string(name) + " has " + std::to_string(array.ElementLength()) + " entries for " +
                             std::to_string(rows) + " rows");
  }
  void* data = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  if (type == napi_int32_array) return torch::from_blob(data, {rows}, torch::kInt32).to(torch::kInt64);
  return torch::from_blob(data, {rows}, torch::kFloat32).clone();
}

int64_t optionalInteger(const Napi::Object& options, const char* key, int64_t fallback) {
  return options.Get(key).IsUndefined() ? fallback : static_cast<int64_t>(numberField(options, key));
}

}  // namespace

Napi::Function EmbeddingModel::DefineClass(Napi::Env env) {
  return ObjectWrap<EmbeddingModel>::DefineClass(
      env, "NativeEmbeddingModel",  // the facade class in lib/model.ts is EmbeddingModel
      {
          InstanceMethod<&EmbeddingModel::Encode>("encode"),
          InstanceMethod<&EmbeddingModel::ConfigureTraining>("configureTraining"),
          InstanceMethod<&EmbeddingModel::SetLearningRate>("setLearningRate"),
          InstanceMethod<&EmbeddingModel::TrainStep>("trainStep"),
          InstanceMethod<&EmbeddingModel::TrainPairsStep>("trainPairsStep"),
          InstanceMethod<&EmbeddingModel::TrainScoredStep>("trainScoredStep"),
          InstanceMethod<&EmbeddingModel::TrainContrastiveStep>("trainContrastiveStep"),
          InstanceMethod<&EmbeddingModel::InterpolateWeights>("interpolateWeights"),
          InstanceMethod<&EmbeddingModel::LogitScale>("logitScale"),
          InstanceMethod<&EmbeddingModel::SetPrecision>("setPrecision"),
          InstanceAccessor<&EmbeddingModel::GetPrecision>("precision"),
          InstanceMethod<&EmbeddingModel::Save>("save"),
          InstanceMethod<&EmbeddingModel::ParameterCount>("parameterCount"),
          InstanceMethod<&EmbeddingModel::Dispose>("dispose"),
          InstanceAccessor<&EmbeddingModel::GetDevice>("device"),
          InstanceAccessor<&EmbeddingModel::GetOutputDim>("outputDim"),
          InstanceAccessor<&EmbeddingModel::GetModality>("modality"),
          InstanceAccessor<&EmbeddingModel::GetDisposed>("disposed"),
      });
}

Napi::Object EmbeddingModel::NewInstance(Napi::Env env, std::shared_ptr<EmbeddingCore> core) {
  // The core crosses into the constructor through an External: JS code cannot build one itself, so
  // `new EmbeddingModel()` from JS is refused.
  auto* addon = env.GetInstanceData<FinetunerAddon>();
  return addon->modelConstructor().New({Napi::External<std::shared_ptr<EmbeddingCore>>::New(env, &core)});
}

EmbeddingModel::EmbeddingModel(const Napi::CallbackInfo& info) : ObjectWrap<EmbeddingModel>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "NativeEmbeddingModel is created by buildFromBackbone or loadEmbeddingModel");
  }
  core_ = *info[0].As<Napi::External<std::shared_ptr<EmbeddingCore>>>().Data();
  // Let V8's GC know how much native memory this object holds, so it collects undisposed models.
  reportedBytes_ = core_->parameterCount().bytes;
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), reportedBytes_);
}

EmbeddingModel::~EmbeddingModel() {
  // Destructors run during GC or environment teardown; AdjustExternalMemory is not safe there, and
  // the core is freed by the shared_ptr either way.
}

std::shared_ptr<EmbeddingCore> EmbeddingModel::requireCore(Napi::Env env) const {
  if (!core_) throw Napi::Error::New(env, "the model has been disposed");
  return core_;
}

void EmbeddingModel::releaseCore() {
  if (!core_) return;
  core_.reset();
  Napi::MemoryManagement::AdjustExternalMemory(Env(), -reportedBytes_);
  reportedBytes_ = 0;
}

Napi::Value EmbeddingModel::Encode(const Napi::CallbackInfo& info) {
  auto core = requireCore(info.Env());
  auto batch = InputBatch::FromJs(info[0], "batch");
  auto* worker = new EncodeWorker(info.Env(), std::move(core), std::move(batch), info.This().As<Napi::Object>());
  worker->Queue();
  return worker->Promise();
}

Napi::Value EmbeddingModel::ConfigureTraining(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = requireCore(env);
  if (!info[0].IsObject()) throwTypeError(env, "configureTraining needs an options object");
  auto options = info[0].As<Napi::Object>();
  TrainingOptions training;
  training.optimizer = stringField(options, "optimizer");
  training.learningRate = numberField(options, "learningRate");
  training.weightDecay = numberField(options, "weightDecay");
  training.momentum = numberField(options, "momentum");
  std::string freeze = stringField(options, "freeze");
  training.freeze = callGuarded(env, [&] { return parseFrozenPart(freeze); });
  if (!options.Get("keepInitialWeights").IsUndefined()) training.keepInitialWeights = boolField(options, "keepInitialWeights");
  training.trainableLayers = optionalInteger(options, "trainableLayers", 0);
  training.numLayers = optionalInteger(options, "numLayers", 0);
  if (!options.Get("layerPrefix").IsUndefined()) training.layerPrefix = stringField(options, "layerPrefix");
  training.margin = numberField(options, "margin");
  if (!options.Get("scale").IsUndefined()) training.scale = numberField(options, "scale");
  callGuarded(env, [&] {
    training.miner = parseMiner(stringField(options, "miner"));
    core->configureTraining(training);
  });
  return env.Undefined();
}

Napi::Value EmbeddingModel::SetLearningRate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = requireCore(env);
  if (!info[0].IsNumber()) throwTypeError(env, "setLearningRate needs a number");
  double learningRate = info[0].As<Napi::Number>().DoubleValue();
  callGuarded(env, [&] { core->setLearningRate(learningRate); });
  return env.Undefined();
}

Napi::Value EmbeddingModel::QueueTrainStep(const Napi::CallbackInfo& info, std::vector<InputBatch> batches,
                                           LossTargets targets) {
  auto core = requireCore(info.Env());
  for (const auto& batch : batches) {
    if (batch.rows() != batches.front().rows()) throwRangeError(info.Env(), "every batch of a step needs the same rows");
  }
  auto* worker = new TrainStepWorker(info.Env(), std::move(core), std::move(batches), std::move(targets),
                                     info.This().As<Napi::Object>());
  worker->Queue();
  return worker->Promise();
}

Napi::Value EmbeddingModel::TrainStep(const Napi::CallbackInfo& info) {
  std::vector<InputBatch> batches;
  batches.push_back(InputBatch::FromJs(info[0], "batch"));
  LossTargets targets{LossTargets::Kind::Triplet, rowValues(info[1], "labels", napi_int32_array, batches[0].rows())};
  return QueueTrainStep(info, std::move(batches), std::move(targets));
}

Napi::Value EmbeddingModel::TrainPairsStep(const Napi::CallbackInfo& info) {
  std::vector<InputBatch> batches;
  batches.push_back(InputBatch::FromJs(info[0], "queries"));
  batches.push_back(InputBatch::FromJs(info[1], "documents"));
  if (!info[2].IsNull() && !info[2].IsUndefined()) batches.push_back(InputBatch::FromJs(info[2], "negatives"));
  LossTargets targets{LossTargets::Kind::MultipleNegatives,
                      rowValues(info[3], "groups", napi_int32_array, batches[0].rows())};
  return QueueTrainStep(info, std::move(batches), std::move(targets));
}

Napi::Value EmbeddingModel::TrainScoredStep(const Napi::CallbackInfo& info) {
  std::vector<InputBatch> batches;
  batches.push_back(InputBatch::FromJs(info[0], "first"));
  batches.push_back(InputBatch::FromJs(info[1], "second"));
  LossTargets targets{LossTargets::Kind::CosineSimilarity,
                      rowValues(info[2], "scores", napi_float32_array, batches[0].rows())};
  return QueueTrainStep(info, std::move(batches), std::move(targets));
}

Napi::Value EmbeddingModel::TrainContrastiveStep(const Napi::CallbackInfo& info) {
  std::vector<InputBatch> batches;
  batches.push_back(InputBatch::FromJs(info[0], "texts"));
  batches.push_back(InputBatch::FromJs(info[1], "images"));
  LossTargets targets{LossTargets::Kind::Contrastive,
                      rowValues(info[2], "groups", napi_int32_array, batches[0].rows())};
  return QueueTrainStep(info, std::move(batches), std::move(targets));
}

Napi::Value EmbeddingModel::InterpolateWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = requireCore(env);
  if (!info[0].IsNumber()) throwTypeError(env, "interpolateWeights needs a number (alpha, 0 to 1)");
  auto* worker = new InterpolateWorker(env, std::move(core), info[0].As<Napi::Number>().DoubleValue(),
                                       info.This().As<Napi::Object>());
  worker->Queue();
  return worker->Promise();
}

Napi::Value EmbeddingModel::LogitScale(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = requireCore(env);
  return Napi::Number::New(env, callGuarded(env, [&] { return core->logitScale(); }));
}

Napi::Value EmbeddingModel::SetPrecision(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = requireCore(env);
  if (!info[0].IsString()) throwTypeError(env, "setPrecision needs 'fp32', 'bf16' or 'fp16'");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  callGuarded(env, [&] { core->setPrecision(parsePrecision(name)); });
  return env.Undefined();
}

Napi::Value EmbeddingModel::GetPrecision(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), precisionName(requireCore(info.Env())->precision()));
}

Napi::Value EmbeddingModel::Save(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = requireCore(env);
  if (!info[0].IsString()) throwTypeError(env, "save needs a file path");
  auto* worker = new SaveWorker(env, std::move(core), info[0].As<Napi::String>().Utf8Value(),
                                info.This().As<Napi::Object>());
  worker->Queue();
  return worker->Promise();
}

Napi::Value EmbeddingModel::ParameterCount(const Napi::CallbackInfo& info) {
  auto count = requireCore(info.Env())->parameterCount();
  auto result = Napi::Object::New(info.Env());
  result.Set("total", static_cast<double>(count.total));
  result.Set("trainable", static_cast<double>(count.trainable));
  return result;
}

Napi::Value EmbeddingModel::Dispose(const Napi::CallbackInfo& info) {
  releaseCore();
  return info.Env().Undefined();
}

Napi::Value EmbeddingModel::GetDevice(const Napi::CallbackInfo& info) {
  auto core = requireCore(info.Env());
  return Napi::String::New(info.Env(), core->device().is_cuda() ? "cuda" : "cpu");
}

Napi::Value EmbeddingModel::GetOutputDim(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(requireCore(info.Env())->outputDim()));
}

Napi::Value EmbeddingModel::GetModality(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), modalityName(requireCore(info.Env())->modality()));
}

Napi::Value EmbeddingModel::GetDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), isDisposed());
}

}  // namespace finetuner

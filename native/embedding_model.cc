#include "embedding_model.h"

#include "addon.h"
#include "distributed/process_group_handle.h"
#include "encode_worker.h"
#include "interpolate_worker.h"
#include "loss_arguments.h"
#include "load_training_state_worker.h"
#include "loss_arguments.h"
#include "losses/loss_registry.h"
#include "napi_options.h"
#include "optimizer_factory.h"
#include "save_training_state_worker.h"
#include "save_worker.h"
#include "train_step_worker.h"

#include <cmath>

namespace finetuner {
namespace {

// A seed is any integer JS can hold exactly; negative ones wrap to 64 bits.
uint64_t seedField(const Napi::Object& options, const char* key) {
  double seed = numberField(options, key);
  if (!(std::floor(seed) == seed && std::fabs(seed) <= 9007199254740991.0)) {
    throwRangeError(options.Env(), std::string("option '") + key + "' must be an integer, got " + std::to_string(seed));
  }
  return static_cast<uint64_t>(static_cast<int64_t>(seed));
}

// { lossScale?, update? } of a step (gradient accumulation); undefined is a whole update.
void readAccumulation(const Napi::Value& value, LossStep& step) {
  if (value.IsUndefined()) return;
  Napi::Env env = value.Env();
  if (!value.IsObject() || value.IsArray()) throwTypeError(env, "trainStep's fifth argument must be { lossScale?, update?, group? }");
  auto object = value.As<Napi::Object>();
  if (!object.Get("lossScale").IsUndefined()) {
    step.lossScale = numberField(object, "lossScale");
    if (!(std::isfinite(step.lossScale) && step.lossScale > 0)) {
      throwRangeError(env, "option 'lossScale' must be a finite positive number, got " + std::to_string(step.lossScale));
    }
  }
  if (!object.Get("update").IsUndefined()) step.update = boolField(object, "update");
  if (!object.Get("group").IsUndefined()) step.group = ProcessGroupHandle::groupOf(object.Get("group"), "option 'group'");
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
          InstanceMethod<&EmbeddingModel::ParameterGroups>("parameterGroups"),
          InstanceMethod<&EmbeddingModel::InterpolateWeights>("interpolateWeights"),
          InstanceMethod<&EmbeddingModel::LogitScale>("logitScale"),
          InstanceMethod<&EmbeddingModel::SetPrecision>("setPrecision"),
          InstanceAccessor<&EmbeddingModel::GetPrecision>("precision"),
          InstanceMethod<&EmbeddingModel::Save>("save"),
          InstanceMethod<&EmbeddingModel::SaveTrainingState>("saveTrainingState"),
          InstanceMethod<&EmbeddingModel::LoadTrainingState>("loadTrainingState"),
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
  if (!optimizerRegistry().has(training.optimizer)) {
    throwTypeError(env, "unknown optimizer '" + training.optimizer + "': use " + optimizerRegistry().joinedNames());
  }
  training.learningRate = numberField(options, "learningRate");
  training.weightDecay = numberField(options, "weightDecay");
  training.momentum = numberField(options, "momentum");
  if (!options.Get("epsilon").IsUndefined()) training.epsilon = numberField(options, "epsilon");
  if (!options.Get("rmspropAlpha").IsUndefined()) training.rmspropAlpha = numberField(options, "rmspropAlpha");
  if (!options.Get("decayBiasesAndNorms").IsUndefined()) training.decayBiasesAndNorms = boolField(options, "decayBiasesAndNorms");
  if (!options.Get("layerDecay").IsUndefined()) training.layerDecay = numberField(options, "layerDecay");
  if (!options.Get("maxGradNorm").IsUndefined()) training.maxGradNorm = numberField(options, "maxGradNorm");
  if (!options.Get("seed").IsUndefined()) training.seed = seedField(options, "seed");
  std::string freeze = stringField(options, "freeze");
  training.freeze = callGuarded(env, [&] { return parseFrozenPart(freeze); });
  if (!options.Get("keepInitialWeights").IsUndefined()) training.keepInitialWeights = boolField(options, "keepInitialWeights");
  training.trainableLayers = optionalInteger(options, "trainableLayers", 0);
  training.numLayers = optionalInteger(options, "numLayers", 0);
  if (!options.Get("layerPrefix").IsUndefined()) training.layerPrefix = stringField(options, "layerPrefix");
  callGuarded(env, [&] { core->configureTraining(training); });
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

Napi::Value EmbeddingModel::TrainStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = requireCore(env);
  if (!info[0].IsArray() || info[0].As<Napi::Array>().Length() == 0) {
    throwTypeError(env, "trainStep needs an array of input batches");
  }
  auto array = info[0].As<Napi::Array>();
  std::vector<InputBatch> batches;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    std::string name = "batches[" + std::to_string(i) + "]";
    batches.push_back(InputBatch::FromJs(array.Get(i), name.c_str()));
    if (batches.back().rows() != batches.front().rows()) throwRangeError(env, "every batch of a step needs the same rows");
  }
  LossStep step;
  step.targets = targetValues(info[1], batches.front().rows());
  if (!info[2].IsString()) throwTypeError(env, "trainStep needs the loss name");
  step.loss = info[2].As<Napi::String>().Utf8Value();
  if (!lossRegistry().has(step.loss)) {
    throwTypeError(env, "unknown loss '" + step.loss + "': use " + lossRegistry().joinedNames());
  }
  step.options = lossOptionsFromJs(info[3]);
  readAccumulation(info[4], step);
  auto* worker = new TrainStepWorker(env, std::move(core), std::move(batches), std::move(step), info.This().As<Napi::Object>());
  worker->Queue();
  return worker->Promise();
}

Napi::Value EmbeddingModel::ParameterGroups(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = requireCore(env);
  auto groups = callGuarded(env, [&] { return core->parameterGroups(); });
  auto array = Napi::Array::New(env, groups.size());
  for (uint32_t i = 0; i < groups.size(); ++i) {
    auto group = Napi::Object::New(env);
    group.Set("learningRate", groups[i].learningRate);
    group.Set("weightDecay", groups[i].weightDecay);
    auto names = Napi::Array::New(env, groups[i].names.size());
    for (uint32_t j = 0; j < groups[i].names.size(); ++j) names.Set(j, groups[i].names[j]);
    group.Set("parameters", names);
    array.Set(i, group);
  }
  return array;
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

Napi::Value EmbeddingModel::SaveTrainingState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = requireCore(env);
  if (!info[0].IsString()) throwTypeError(env, "saveTrainingState needs a file path");
  auto* worker = new SaveTrainingStateWorker(env, std::move(core), info[0].As<Napi::String>().Utf8Value(),
                                             info.This().As<Napi::Object>());
  worker->Queue();
  return worker->Promise();
}

Napi::Value EmbeddingModel::LoadTrainingState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = requireCore(env);
  if (!info[0].IsString()) throwTypeError(env, "loadTrainingState needs a file path");
  if (!info[1].IsString()) throwTypeError(env, "loadTrainingState needs the run's loss name");
  auto* worker = new LoadTrainingStateWorker(env, std::move(core), info[0].As<Napi::String>().Utf8Value(),
                                             info[1].As<Napi::String>().Utf8Value(), lossOptionsFromJs(info[2]),
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

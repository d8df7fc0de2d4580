#include "embedding_model.h"

#include "addon.h"
#include "encode_worker.h"
#include "napi_options.h"
#include "save_worker.h"
#include "train_step_worker.h"

namespace finetuner {

Napi::Function EmbeddingModel::DefineClass(Napi::Env env) {
  return ObjectWrap<EmbeddingModel>::DefineClass(
      env, "EmbeddingModel",
      {
          InstanceMethod<&EmbeddingModel::EncodeImages>("encodeImages"),
          InstanceMethod<&EmbeddingModel::ConfigureTraining>("configureTraining"),
          InstanceMethod<&EmbeddingModel::SetLearningRate>("setLearningRate"),
          InstanceMethod<&EmbeddingModel::TrainStep>("trainStep"),
          InstanceMethod<&EmbeddingModel::Save>("save"),
          InstanceMethod<&EmbeddingModel::ParameterCount>("parameterCount"),
          InstanceMethod<&EmbeddingModel::Dispose>("dispose"),
          InstanceAccessor<&EmbeddingModel::GetDevice>("device"),
          InstanceAccessor<&EmbeddingModel::GetOutputDim>("outputDim"),
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
    throw Napi::TypeError::New(info.Env(), "EmbeddingModel is created by buildFromBackbone or loadEmbeddingModel");
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

Napi::Value EmbeddingModel::EncodeImages(const Napi::CallbackInfo& info) {
  auto core = requireCore(info.Env());
  auto batch = ImageBatch::FromJs(info[0]);
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
  if (freeze != "none" && freeze != "trunk") throwTypeError(env, "option 'freeze' must be 'none' or 'trunk'");
  training.freezeTrunk = freeze == "trunk";
  training.margin = numberField(options, "margin");
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

Napi::Value EmbeddingModel::TrainStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = requireCore(env);
  auto batch = ImageBatch::FromJs(info[0]);
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throwTypeError(env, "labels must be an Int32Array");
  }
  auto labels = info[1].As<Napi::Int32Array>();
  if (static_cast<int64_t>(labels.ElementLength()) != batch.rows()) {
    throwRangeError(env, "labels has " + std::to_string(labels.ElementLength()) + " entries for " +
                             std::to_string(batch.rows()) + " images");
  }
  // Labels are a few bytes: copying them is simpler than holding a second reference.
  auto labelTensor = torch::from_blob(labels.Data(), {batch.rows()}, torch::kInt32).to(torch::kInt64);
  auto* worker = new TrainStepWorker(env, std::move(core), std::move(batch), labelTensor, info.This().As<Napi::Object>());
  worker->Queue();
  return worker->Promise();
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

Napi::Value EmbeddingModel::GetDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), isDisposed());
}

}  // namespace finetuner

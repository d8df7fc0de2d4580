// JS class wrapping an EmbeddingCore. Every long method starts a named worker and returns a promise;
// dispose() drops this object's hold on the core (a running worker keeps its own) and is safe twice.
#pragma once

#include "embedding_core.h"
#include "input_batch.h"

#include <napi.h>

#include <memory>

namespace finetuner {

class EmbeddingModel : public Napi::ObjectWrap<EmbeddingModel> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  static Napi::Object NewInstance(Napi::Env env, std::shared_ptr<EmbeddingCore> core);

  explicit EmbeddingModel(const Napi::CallbackInfo& info);
  ~EmbeddingModel() override;

  bool isDisposed() const { return core_ == nullptr; }

 private:
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value ConfigureTraining(const Napi::CallbackInfo& info);
  Napi::Value SetLearningRate(const Napi::CallbackInfo& info);
  Napi::Value TrainStep(const Napi::CallbackInfo& info);
  Napi::Value ParameterGroups(const Napi::CallbackInfo& info);
  Napi::Value InterpolateWeights(const Napi::CallbackInfo& info);
  Napi::Value LogitScale(const Napi::CallbackInfo& info);
  Napi::Value SetPrecision(const Napi::CallbackInfo& info);
  Napi::Value GetPrecision(const Napi::CallbackInfo& info);
  Napi::Value Save(const Napi::CallbackInfo& info);
  Napi::Value SaveTrainingState(const Napi::CallbackInfo& info);
  Napi::Value LoadTrainingState(const Napi::CallbackInfo& info);
  Napi::Value ParameterCount(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetOutputDim(const Napi::CallbackInfo& info);
  Napi::Value GetModality(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);

  std::shared_ptr<EmbeddingCore> requireCore(Napi::Env env) const;
  void releaseCore();

  std::shared_ptr<EmbeddingCore> core_;
  int64_t reportedBytes_ = 0;  // weight memory reported to V8, returned on dispose
};

}  // namespace finetuner

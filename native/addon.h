// Per-environment addon state (Napi::Addon keeps one instance per Node environment, so the addon also
// works inside worker_threads) and the module-level functions of the binding.
#pragma once

#include <napi.h>

namespace finetuner {

class FinetunerAddon : public Napi::Addon<FinetunerAddon> {
 public:
  FinetunerAddon(Napi::Env env, Napi::Object exports);

  Napi::Function modelConstructor() const { return modelConstructor_.Value(); }
  Napi::Function processGroupConstructor() const { return processGroupConstructor_.Value(); }

 private:
  Napi::Value RuntimeInfo(const Napi::CallbackInfo& info);
  Napi::Value SetNumThreads(const Napi::CallbackInfo& info);
  Napi::Value BuildFromBackbone(const Napi::CallbackInfo& info);
  Napi::Value LoadEmbeddingModel(const Napi::CallbackInfo& info);
  Napi::Value ExchangePaths(const Napi::CallbackInfo& info);
  Napi::Value ComputeLoss(const Napi::CallbackInfo& info);
  Napi::Value SearchTopK(const Napi::CallbackInfo& info);
  Napi::Value RetrievalMetrics(const Napi::CallbackInfo& info);

  Napi::Value JoinProcessGroup(const Napi::CallbackInfo& info);

  Napi::FunctionReference modelConstructor_;
  Napi::FunctionReference processGroupConstructor_;
};

}  // namespace finetuner

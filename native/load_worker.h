// Loads a model off the event loop (torch::jit::load of a large file takes seconds) and resolves to a
// new EmbeddingModel. One worker serves both sources: an exported backbone or a saved embedding model.
#pragma once

#include "embedding_core.h"
#include "embedding_model.h"
#include "promise_worker.h"

#include <functional>

namespace finetuner {

class LoadWorker : public PromiseWorker {
 public:
  using Loader = std::function<std::shared_ptr<EmbeddingCore>()>;

  LoadWorker(Napi::Env env, Loader loader) : PromiseWorker(env, "finetuner:load"), loader_(std::move(loader)) {}

 protected:
  void Run() override { core_ = loader_(); }

  Napi::Value Result(Napi::Env env) override { return EmbeddingModel::NewInstance(env, std::move(core_)); }

 private:
  Loader loader_;
  std::shared_ptr<EmbeddingCore> core_;
};

}  // namespace finetuner

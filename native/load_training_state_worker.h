// Loads a checkpoint's training state (EmbeddingCore::loadTrainingState: optimizer, loss parameters,
// generator state, WiSE-FT initial weights) off the event loop.
#pragma once

#include "embedding_core.h"
#include "promise_worker.h"

#include <string>

namespace finetuner {

class LoadTrainingStateWorker : public PromiseWorker {
 public:
  LoadTrainingStateWorker(Napi::Env env, std::shared_ptr<EmbeddingCore> core, std::string path, std::string lossName,
                          LossOptions lossOptions, Napi::Object owner)
      : PromiseWorker(env, "finetuner:loadTrainingState"), core_(std::move(core)), path_(std::move(path)),
        lossName_(std::move(lossName)), lossOptions_(std::move(lossOptions)), owner_(Napi::Persistent(owner)) {}

 protected:
  void Run() override { core_->loadTrainingState(path_, lossName_, lossOptions_); }

 private:
  std::shared_ptr<EmbeddingCore> core_;
  std::string path_;
  std::string lossName_;
  LossOptions lossOptions_;
  Napi::ObjectReference owner_;
};

}  // namespace finetuner

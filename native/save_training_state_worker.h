// Saves a checkpoint's training state (EmbeddingCore::saveTrainingState: optimizer, loss parameters,
// generator state, WiSE-FT initial weights) off the event loop.
#pragma once

#include "embedding_core.h"
#include "promise_worker.h"

#include <string>

namespace finetuner {

class SaveTrainingStateWorker : public PromiseWorker {
 public:
  SaveTrainingStateWorker(Napi::Env env, std::shared_ptr<EmbeddingCore> core, std::string path, Napi::Object owner)
      : PromiseWorker(env, "finetuner:saveTrainingState"), core_(std::move(core)), path_(std::move(path)),
        owner_(Napi::Persistent(owner)) {}

 protected:
  void Run() override { core_->saveTrainingState(path_); }

 private:
  std::shared_ptr<EmbeddingCore> core_;
  std::string path_;
  Napi::ObjectReference owner_;
};

}  // namespace finetuner

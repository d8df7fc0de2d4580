// Writes the embedding model as one TorchScript file (temporary name, then rename) off the event loop.
#pragma once

#include "embedding_core.h"
#include "promise_worker.h"

#include <string>

namespace finetuner {

class SaveWorker : public PromiseWorker {
 public:
  SaveWorker(Napi::Env env, std::shared_ptr<EmbeddingCore> core, std::string path, Napi::Object owner)
      : PromiseWorker(env, "finetuner:save"), core_(std::move(core)), path_(std::move(path)),
        owner_(Napi::Persistent(owner)) {}

 protected:
  void Run() override { core_->save(path_); }

 private:
  std::shared_ptr<EmbeddingCore> core_;
  std::string path_;
  Napi::ObjectReference owner_;
};

}  // namespace finetuner

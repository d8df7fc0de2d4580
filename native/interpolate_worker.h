// WiSE-FT weight interpolation off the event loop: one pass over every parameter (about a second for
// the largest CLIPs).
#pragma once

#include "embedding_core.h"
#include "promise_worker.h"

namespace finetuner {

class InterpolateWorker : public PromiseWorker {
 public:
  InterpolateWorker(Napi::Env env, std::shared_ptr<EmbeddingCore> core, double alpha, Napi::Object owner)
      : PromiseWorker(env, "finetuner:interpolateWeights"), core_(std::move(core)), alpha_(alpha),
        owner_(Napi::Persistent(owner)) {}

 protected:
  void Run() override { core_->interpolateWeights(alpha_); }

 private:
  std::shared_ptr<EmbeddingCore> core_;
  double alpha_;
  Napi::ObjectReference owner_;
};

}  // namespace finetuner

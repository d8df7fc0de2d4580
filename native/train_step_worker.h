// One optimisation step (forward, mined triplet loss, backward, optimizer step) off the event loop.
#pragma once

#include "embedding_core.h"
#include "image_batch.h"
#include "promise_worker.h"

namespace finetuner {

class TrainStepWorker : public PromiseWorker {
 public:
  TrainStepWorker(Napi::Env env, std::shared_ptr<EmbeddingCore> core, ImageBatch batch, torch::Tensor labels,
                  Napi::Object owner)
      : PromiseWorker(env, "finetuner:trainStep"), core_(std::move(core)), batch_(std::move(batch)),
        labels_(std::move(labels)), owner_(Napi::Persistent(owner)) {}

 protected:
  void Run() override { result_ = core_->trainStep(batch_.tensor(), labels_); }

  Napi::Value Result(Napi::Env env) override {
    auto result = Napi::Object::New(env);
    result.Set("loss", result_.loss);
    result.Set("triplets", static_cast<double>(result_.triplets));
    return result;
  }

 private:
  std::shared_ptr<EmbeddingCore> core_;
  ImageBatch batch_;
  torch::Tensor labels_;
  Napi::ObjectReference owner_;
  TrainStepResult result_;
};

}  // namespace finetuner

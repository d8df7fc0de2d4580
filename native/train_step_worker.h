// One training step (forward of every batch, loss, backward, and the optimizer step unless gradients
// accumulate) off the event loop, for any loss of the registry: the batches stay in JS memory (held by
// InputBatch), the targets and the loss name and options were copied when the step was queued.
#pragma once

#include "embedding_core.h"
#include "input_batch.h"
#include "promise_worker.h"

#include <vector>

namespace finetuner {

class TrainStepWorker : public PromiseWorker {
 public:
  TrainStepWorker(Napi::Env env, std::shared_ptr<EmbeddingCore> core, std::vector<InputBatch> batches,
                  LossStep step, Napi::Object owner)
      : PromiseWorker(env, "finetuner:trainStep"), core_(std::move(core)), batches_(std::move(batches)),
        step_(std::move(step)), owner_(Napi::Persistent(owner)) {}

 protected:
  void Run() override {
    std::vector<ModelInput> inputs;
    for (const auto& batch : batches_) inputs.push_back(batch.input());
    result_ = core_->trainStep(inputs, step_);
  }

  Napi::Value Result(Napi::Env env) override {
    auto result = Napi::Object::New(env);
    result.Set("loss", result_.loss);
    result.Set("examples", static_cast<double>(result_.examples));
    if (result_.gradNorm) result.Set("gradNorm", *result_.gradNorm);
    if (result_.communicationSeconds) result.Set("communicationSeconds", *result_.communicationSeconds);
    if (result_.allReduceSeconds) result.Set("allReduceSeconds", *result_.allReduceSeconds);
    return result;
  }

 private:
  std::shared_ptr<EmbeddingCore> core_;
  std::vector<InputBatch> batches_;
  LossStep step_;
  Napi::ObjectReference owner_;
  TrainStepResult result_;
};

}  // namespace finetuner

// Encodes one batch (images or token ids) off the event loop. The result tensor's memory is handed to JS
// as an external ArrayBuffer (no copy); the tensor is freed when the Float32Array is garbage collected.
#pragma once

#include "embedding_core.h"
#include "input_batch.h"
#include "promise_worker.h"

#include <memory>

namespace finetuner {

class EncodeWorker : public PromiseWorker {
 public:
  EncodeWorker(Napi::Env env, std::shared_ptr<EmbeddingCore> core, InputBatch batch, Napi::Object owner)
      : PromiseWorker(env, "finetuner:encode"), core_(std::move(core)), batch_(std::move(batch)),
        owner_(Napi::Persistent(owner)) {}

 protected:
  void Run() override { embeddings_ = core_->encode(batch_.input()); }

  Napi::Value Result(Napi::Env env) override {
    auto kept = std::make_unique<torch::Tensor>(std::move(embeddings_));
    auto buffer = Napi::ArrayBuffer::New(env, kept->data_ptr(), kept->numel() * sizeof(float),
                                         [](Napi::Env, void*, torch::Tensor* tensor) { delete tensor; }, kept.get());
    // The ArrayBuffer owns the tensor from here; if creating it threw, the unique_ptr frees it.
    auto* tensor = kept.release();
    return Napi::Float32Array::New(env, tensor->numel(), buffer, 0);
  }

 private:
  std::shared_ptr<EmbeddingCore> core_;
  InputBatch batch_;
  Napi::ObjectReference owner_;  // keeps the JS model alive while the worker runs
  torch::Tensor embeddings_;
};

}  // namespace finetuner

// What every loss is: a formula over the embeddings of one training step. A loss lives in its own file
// under native/losses/ and registers itself by name (loss_registry.h); the training step
// (EmbeddingCore::trainStep) knows no loss by name. Instances are kept across steps while the loss name
// and options stay the same, so a loss may hold state.
#pragma once

#include "loss_options.h"
#include "miners/indices_tuple.h"
#include "module_builder.h"

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace finetuner {

// One training step as a loss sees it.
struct LossBatch {
  // One N x D float32 tensor per input batch of the step, in the order the caller passed them (e.g.
  // queries, documents[, negatives]); attached to the graph.
  std::vector<torch::Tensor> embeddings;
  std::vector<Modality> modalities;  // of each input batch
  // N values on the CPU: int64 labels or group ids (from an Int32Array), or float32 scores.
  torch::Tensor targets;
};

struct LossValue {
  LossValue() = default;
  LossValue(torch::Tensor loss, int64_t examples) : loss(std::move(loss)), examples(examples) {}

  torch::Tensor loss;  // scalar, attached to the graph
  // Examples that contributed: mined triplets, or pairs. With none, the step skips backward.
  int64_t examples = 0;
  // What the loss's miner returned (none: the loss had no miner), for computeLoss.
  IndicesTuple mined;
};

// What a loss may learn about the model it trains, when it is built.
struct LossContext {
  Modality modality = Modality::Image;
  int64_t outputDim = 0;  // embedding width (for losses that hold per-class weights)
  torch::Device device = torch::kCPU;
  // A parameter the model holds, by its full name (CLIP's "clip.logit_scale"), or an undefined tensor.
  // The tensor is the model's own: the optimizer trains it with the rest of the model.
  std::function<torch::Tensor(const std::string& name)> modelParameter;
};

class Loss {
 public:
  virtual ~Loss() = default;
  // Checks that the batch is what this loss takes (inputs, modalities, targets) with a message that
  // names the loss.
  virtual LossValue compute(const LossBatch& batch) = 0;
  // After each optimizer step, without gradients: keeps parameters in range (CLIP clamps its temperature).
  virtual void afterStep() {}
  // Parameters the loss owns (ArcFace's class weights, ProxyAnchor's proxies), by name: the model's
  // optimizer trains them as a parameter group of their own at learningRate() (EmbeddingCore::lossFor).
  // They live as long as the loss: across steps while its name and options stay the same.
  virtual std::vector<std::pair<std::string, torch::Tensor>> parameters() { return {}; }
  virtual double learningRate() const { return 0.0; }
  // GradCache (Gao et al. 2021): rows per mini-batch when the step is to embed the batch in mini-batches
  // (without the graph, then again with it, backward from the cached embedding gradient), so that a batch
  // far larger than memory holds still has all its in-batch negatives; 0 embeds each input batch whole
  // (the plain step). The training step reads it and knows no loss by name.
  virtual int64_t cachedMiniBatch() const { return 0; }
};

using LossFactory = std::function<std::unique_ptr<Loss>(const LossOptions& options, const LossContext& context)>;

}  // namespace finetuner

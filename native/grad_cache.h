// GradCache (Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited
// Setup"), the training step's way of running a loss whose Loss::cachedMiniBatch() is not 0: the loss sees
// the whole batch's embeddings while the graph in memory is never more than one mini-batch's.
//   1. embedWithoutGraph: every input batch embedded a mini-batch at a time without autograd, the random
//      state before each mini-batch saved (as sentence-transformers' RandContext does);
//   2. the caller computes the loss on the returned leaves and back-propagates it into their .grad;
//   3. backward: each mini-batch embedded again with the graph, its dropout replayed from the saved
//      state, and its slice of the cached gradient back-propagated into the model's parameters.
// The parameters' gradients equal those of the plain step (to rounding) when the forward is the same
// for a mini-batch as for the whole batch: true with dropout (replayed), not with BatchNorm in training
// mode (its statistics are the mini-batch's).
#pragma once

#include "model_input.h"

#include <torch/torch.h>

#include <functional>
#include <vector>

namespace finetuner {

class GradCache {
 public:
  using Embed = std::function<torch::Tensor(const ModelInput& input)>;

  GradCache(int64_t miniBatch, torch::Device device, Embed embed);

  // One float32 leaf (requires grad) per input batch, in order.
  std::vector<torch::Tensor> embedWithoutGraph(const std::vector<ModelInput>& inputs);
  // After the loss's backward has filled the leaves' gradients. Leaves the random state as pass 1 left it.
  void backward(const std::vector<ModelInput>& inputs, const std::vector<torch::Tensor>& leaves);

 private:
  struct MiniBatch {
    size_t input;
    int64_t start;
    int64_t end;
    torch::Tensor randomState;  // of the device's default generator, before the mini-batch's forward
  };

  torch::Tensor randomState();
  void setRandomState(const torch::Tensor& state);

  int64_t miniBatch_;
  torch::Device device_;
  Embed embed_;
  std::vector<MiniBatch> miniBatches_;
};

}  // namespace finetuner

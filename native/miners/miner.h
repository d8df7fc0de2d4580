// What every miner is: given a batch's (detached) embeddings and labels, the index triplets a triplet
// loss is taken on, as pytorch-metric-learning's miners return them. A miner lives in its own file
// under native/miners/ and registers itself by name (miner_registry.h); a loss that mines takes a
// `miner` option and builds it with makeMiner, so any triplet loss can use any miner.
#pragma once

#include "losses/loss_options.h"

#include <torch/torch.h>

#include <functional>
#include <memory>

namespace finetuner {

// Row indices (int64, same length): labels[anchors] == labels[positives] != labels[negatives], and
// anchors != positives.
struct MinedTriplets {
  torch::Tensor anchors;
  torch::Tensor positives;
  torch::Tensor negatives;

  int64_t size() const { return anchors.defined() ? anchors.numel() : 0; }
};

class Miner {
 public:
  virtual ~Miner() = default;
  // embeddings: N x D, detached; labels: N int64 on the CPU.
  virtual MinedTriplets mine(const torch::Tensor& embeddings, const torch::Tensor& labels) const = 0;
};

// Options are the loss's: a miner reads what it needs (semi-hard and all read `margin`).
using MinerFactory = std::function<std::unique_ptr<Miner>(const LossOptions& options)>;

}  // namespace finetuner

// What every miner is: given a batch's (detached) embeddings and labels, the index tuples a loss is taken
// on, as pytorch-metric-learning's miners return them: triplets or pairs (indices_tuple.h). A miner
// lives in its own file under native/miners/ and registers itself by name (miner_registry.h); a loss
// that mines takes a `miner` option and builds it with makeMiner, so any pair or triplet loss can use any
// miner (the loss converts the tuples as PML does).
#pragma once

#include "indices_tuple.h"
#include "losses/loss_options.h"

#include <torch/torch.h>

#include <functional>
#include <memory>

namespace finetuner {

class Miner {
 public:
  virtual ~Miner() = default;
  // embeddings: N x D, detached; labels: N int64 on the CPU.
  virtual IndicesTuple mine(const torch::Tensor& embeddings, const torch::Tensor& labels) const = 0;
};

// Options are the loss's: the original three miners read `margin` (shared with the loss); the PML
// miners read their own, prefixed `miner` (minerMargin, minerType, minerDistance, ...).
using MinerFactory = std::function<std::unique_ptr<Miner>(const LossOptions& options)>;

}  // namespace finetuner

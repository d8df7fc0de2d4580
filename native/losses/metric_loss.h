// Base of the pytorch-metric-learning losses (PML's BaseMetricLossFunction): one batch of labelled
// embeddings, an optional miner (option `miner`, "none" by default: every pair or triplet, as PML
// without a miner), a distance (option `distance`, PML's default for the loss). A subclass holds only
// its formula, as a PML loss file does.
#pragma once

#include "batch_checks.h"
#include "metric_distance.h"
#include "miners/miner_registry.h"

namespace finetuner {

class MetricLoss : public Loss {
 public:
  MetricLoss(const char* name, const LossOptions& options, const char* defaultDistance, const char* defaultMiner = kNoMiner)
      : name_(name),
        distance_(MetricDistance::fromOptions(options, "distance", defaultDistance)),
        minerName_(options.string("miner", defaultMiner)),
        miner_(makeMiner(minerName_, options)) {}

  LossValue compute(const LossBatch& batch) final {
    requireInputs(batch, name_, 1, 1, "one batch of labelled items");
    requireIdTargets(batch, name_, "labels");
    const auto& embeddings = batch.embeddings[0];
    TORCH_CHECK(embeddings.dim() == 2, name_, ": embeddings must be 2-D");
    TORCH_CHECK(batch.targets.size(0) == embeddings.size(0), name_, ": one label per row is needed");
    auto labels = batch.targets.to(embeddings.device());
    IndicesTuple mined = miner_ ? miner_->mine(embeddings.detach(), labels) : IndicesTuple{};
    LossValue value = formula(embeddings, labels, mined);
    value.mined = std::move(mined);
    return value;
  }

 protected:
  // PML's compute_loss followed by the loss's reducer.
  virtual LossValue formula(const torch::Tensor& embeddings, const torch::Tensor& labels, const IndicesTuple& mined) = 0;

  // GenericPairLoss's early exit: no pair list with more than one entry gives a zero loss.
  static bool tooFewPairs(const IndicesTuple& pairs) {
    for (const auto& part : pairs.parts) {
      if (part.numel() > 1) return false;
    }
    return true;
  }

  // N x N float masks of the positive and negative pairs (GenericPairLoss.mat_based_loss).
  static std::pair<torch::Tensor, torch::Tensor> pairMasks(const IndicesTuple& pairs, const torch::Tensor& mat) {
    auto positive = torch::zeros_like(mat);
    auto negative = torch::zeros_like(mat);
    positive.index_put_({pairs.parts[0], pairs.parts[1]}, 1);
    negative.index_put_({pairs.parts[2], pairs.parts[3]}, 1);
    return {positive, negative};
  }

  const char* name_;
  MetricDistance distance_;
  std::string minerName_;
  std::unique_ptr<Miner> miner_;
};

}  // namespace finetuner

// pytorch-metric-learning's distances (distances/): 'l2' is its default LpDistance (rows normalised,
// then Euclidean distances by torch::cdist, as PML computes them), 'cosine' its CosineSimilarity (an
// inverted distance: larger is closer). margin(), smallest() and largest() follow PML's direction rules.
#pragma once

#include "loss_options.h"

#include <torch/torch.h>

#include <limits>
#include <string>

namespace finetuner {

class MetricDistance {
 public:
  // Reads option `name` ("distance", "minerDistance") with PML's default for the loss or miner.
  static MetricDistance fromOptions(const LossOptions& options, const char* name, const char* fallback) {
    auto value = options.string(name, fallback);
    TORCH_CHECK(value == "l2" || value == "cosine", "option '", name, "' must be l2 or cosine, got '", value, "'");
    return MetricDistance(value == "cosine");
  }

  explicit MetricDistance(bool cosine) : cosine_(cosine) {}

  bool inverted() const { return cosine_; }

  torch::Tensor matrix(const torch::Tensor& embeddings) const {
    auto normalized = embeddings / embeddings.norm(2, {1}, true).clamp_min(1e-12);  // F.normalize
    if (cosine_) return torch::matmul(normalized, normalized.t());
    return torch::cdist(normalized, normalized, 2);
  }

  // How far x is past y in the "worse" direction (PML BaseDistance.margin).
  template <typename X, typename Y>
  auto margin(const X& x, const Y& y) const {
    return cosine_ ? y - x : x - y;
  }

 private:
  bool cosine_;
};

// PML's c_f.neg_inf, pos_inf and small_val: the dtype's finite extremes, not infinities.
inline double lowest(const torch::Tensor& like) {
  return like.scalar_type() == torch::kDouble ? std::numeric_limits<double>::lowest() : std::numeric_limits<float>::lowest();
}
inline double highest(const torch::Tensor& like) {
  return like.scalar_type() == torch::kDouble ? std::numeric_limits<double>::max() : std::numeric_limits<float>::max();
}
inline double tiny(const torch::Tensor& like) {
  return like.scalar_type() == torch::kDouble ? std::numeric_limits<double>::min() : std::numeric_limits<float>::min();
}

// PML's reducers over a vector of per-element losses (reducers/). A loss with none gives a zero that
// still depends on the embeddings, as PML's zero_loss (sum(embeddings * 0)).
inline torch::Tensor zeroLoss(const torch::Tensor& embeddings) { return (embeddings * 0).sum(); }

inline torch::Tensor meanReduce(const torch::Tensor& losses, const torch::Tensor& embeddings) {
  return losses.numel() ? losses.mean() : zeroLoss(embeddings);
}

inline torch::Tensor avgNonZeroReduce(const torch::Tensor& losses, const torch::Tensor& embeddings) {
  auto positive = losses.masked_select(losses > 0);
  return positive.numel() ? positive.mean() : zeroLoss(embeddings);
}

// PML's lmu.logsumexp over dim 1 with a keep mask (rows without a kept entry give 0), optionally with
// an extra zero logit (add_one).
inline torch::Tensor maskedLogSumExp(const torch::Tensor& x, const torch::Tensor& keep, bool addOne) {
  auto masked = x.masked_fill(keep.logical_not(), lowest(x));
  if (addOne) masked = torch::cat({masked, torch::zeros({x.size(0), 1}, x.options())}, 1);
  auto output = torch::logsumexp(masked, {1}, true);
  return output.masked_fill(keep.any(1, true).logical_not(), 0);
}

}  // namespace finetuner

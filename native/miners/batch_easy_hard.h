// pytorch-metric-learning's BatchEasyHardMiner, shared by BatchEasyHardMiner and BatchHardMiner: per
// anchor one positive and one negative, each chosen by a strategy: hard (farthest positive, nearest
// negative), easy (the reverse), semihard (relative to the other's chosen distance) or all (every pair).
// PML's allowed_pos_range / allowed_neg_range are not offered.
#pragma once

#include "losses/metric_distance.h"
#include "miner.h"

#include <string>

namespace finetuner {

class BatchEasyHardMining {
 public:
  BatchEasyHardMining(std::string positive, std::string negative, MetricDistance distance)
      : positive_(std::move(positive)), negative_(std::move(negative)), distance_(distance) {
    for (const auto& strategy : {positive_, negative_}) {
      TORCH_CHECK(strategy == "hard" || strategy == "semihard" || strategy == "easy" || strategy == "all",
                  "BatchEasyHardMiner: a strategy must be hard, semihard, easy or all, got '", strategy, "'");
    }
    TORCH_CHECK(!(positive_ == "semihard" && negative_ == "semihard"), "BatchEasyHardMiner: the positive and negative strategies cannot both be semihard");
    TORCH_CHECK(!((positive_ == "all" && negative_ == "semihard") || (negative_ == "all" && positive_ == "semihard")),
                "BatchEasyHardMiner: semihard cannot be used in combination with all");
  }

  // (a1, p, a2, n), as PML returns it.
  IndicesTuple mine(const torch::Tensor& embeddings, const torch::Tensor& labels) const {
    auto mat = distance_.matrix(embeddings);
    auto [matches, diffs] = matchesAndDiffs(labels, embeddings.device());
    auto anchors = torch::arange(mat.size(0), torch::TensorOptions().dtype(torch::kLong).device(mat.device()));
    Chosen positives, negatives;
    if (positive_ == "semihard" && negative_ != "all") {
      negatives = chooseNegatives(mat, diffs, {});
      positives = choosePositives(mat, matches, negatives.values);
    } else if (negative_ == "semihard" && positive_ != "all") {
      positives = choosePositives(mat, matches, {});
      negatives = chooseNegatives(mat, diffs, positives.values);
    } else {
      if (positive_ != "all") positives = choosePositives(mat, matches, {});
      if (negative_ != "all") negatives = chooseNegatives(mat, diffs, {});
    }
    auto allPositive = matches.nonzero();
    auto allNegative = diffs.nonzero();
    if (positive_ != "all" && negative_ != "all") {
      auto keep = positives.found.logical_and(negatives.found);
      auto a = anchors.masked_select(keep);
      return {{a, positives.indices.masked_select(keep), a, negatives.indices.masked_select(keep)}};
    }
    if (positive_ == "all" && negative_ != "all") {
      return {{allPositive.select(1, 0), allPositive.select(1, 1), anchors.masked_select(negatives.found),
               negatives.indices.masked_select(negatives.found)}};
    }
    if (positive_ != "all") {
      return {{anchors.masked_select(positives.found), positives.indices.masked_select(positives.found),
               allNegative.select(1, 0), allNegative.select(1, 1)}};
    }
    return {{allPositive.select(1, 0), allPositive.select(1, 1), allNegative.select(1, 0), allNegative.select(1, 1)}};
  }

 private:
  struct Chosen {
    torch::Tensor values, indices, found;
  };

  // PML's get_x_per_row: the row-wise min or max over the allowed entries; rows with none are not found.
  Chosen perRow(bool takeMin, const torch::Tensor& mat, const torch::Tensor& allowed, const torch::Tensor& thresholds) const {
    auto usable = allowed.clone();
    if (thresholds.defined()) {
      auto excluded = takeMin ? mat <= thresholds.unsqueeze(1) : mat >= thresholds.unsqueeze(1);
      usable = usable.logical_and(excluded.logical_not());
    }
    auto filled = mat.masked_fill(usable.logical_not(), takeMin ? highest(mat) : lowest(mat));
    auto [values, indices] = takeMin ? filled.min(1) : filled.max(1);
    return {values, indices, usable.any(1)};
  }

  // hard/semihard positives are the farthest, easy the nearest.
  Chosen choosePositives(const torch::Tensor& mat, const torch::Tensor& matches, const torch::Tensor& thresholds) const {
    bool farthest = positive_ != "easy";
    return perRow(farthest == distance_.inverted(), mat, matches, thresholds);
  }

  // hard/semihard negatives are the nearest, easy the farthest.
  Chosen chooseNegatives(const torch::Tensor& mat, const torch::Tensor& diffs, const torch::Tensor& thresholds) const {
    bool nearest = negative_ == "hard" || negative_ == "semihard";
    return perRow(nearest != distance_.inverted(), mat, diffs, thresholds);
  }

  std::string positive_;
  std::string negative_;
  MetricDistance distance_;
};

}  // namespace finetuner

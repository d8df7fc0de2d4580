// Index tuples as pytorch-metric-learning's miners and losses pass them (utils/loss_and_miner_utils.py):
// triplets (anchors, positives, negatives) or pairs (a1, p, a2, n: positive pairs a1-p and negative pairs
// a2-n, of independent lengths). A pair loss takes triplets as pairs, a triplet loss pairs as the
// triplets whose positive and negative pair share an anchor, exactly as PML converts them.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace finetuner {

struct IndicesTuple {
  std::vector<torch::Tensor> parts;  // 3 (a, p, n) or 4 (a1, p, a2, n) int64 tensors; empty: none mined

  bool isTriplets() const { return parts.size() == 3; }
  // Triplets, or positive plus negative pairs.
  int64_t size() const {
    if (parts.empty()) return 0;
    return isTriplets() ? parts[0].numel() : parts[0].numel() + parts[2].numel();
  }
};

// N x N: i and j share a label and i != j (PML's get_matches_and_diffs), and the pairs of other labels.
inline std::pair<torch::Tensor, torch::Tensor> matchesAndDiffs(const torch::Tensor& labels, torch::Device device) {
  auto onDevice = labels.to(device);
  auto same = onDevice.unsqueeze(1).eq(onDevice.unsqueeze(0));
  auto eye = torch::eye(labels.size(0), torch::TensorOptions().dtype(torch::kBool).device(device));
  return {same.logical_and(eye.logical_not()), same.logical_not()};
}

inline IndicesTuple allPairs(const torch::Tensor& labels, torch::Device device) {
  auto [matches, diffs] = matchesAndDiffs(labels, device);
  auto positive = matches.nonzero();
  auto negative = diffs.nonzero();
  return {{positive.select(1, 0), positive.select(1, 1), negative.select(1, 0), negative.select(1, 1)}};
}

inline IndicesTuple allTriplets(const torch::Tensor& labels, torch::Device device) {
  auto [matches, diffs] = matchesAndDiffs(labels, device);
  auto triplets = matches.unsqueeze(2).logical_and(diffs.unsqueeze(1)).nonzero();
  return {{triplets.select(1, 0), triplets.select(1, 1), triplets.select(1, 2)}};
}

// PML's convert_to_pairs: none mined (undefined parts) means all pairs.
inline IndicesTuple toPairs(const IndicesTuple& mined, const torch::Tensor& labels, torch::Device device) {
  if (mined.parts.empty()) return allPairs(labels, device);
  if (!mined.isTriplets()) return mined;
  return {{mined.parts[0], mined.parts[1], mined.parts[0], mined.parts[2]}};
}

// PML's convert_to_triplets (triplets_per_anchor "all"): every positive pair with every negative pair of
// the same anchor.
inline IndicesTuple toTriplets(const IndicesTuple& mined, const torch::Tensor& labels, torch::Device device) {
  if (mined.parts.empty()) return allTriplets(labels, device);
  if (mined.isTriplets()) return mined;
  auto matching = mined.parts[0].unsqueeze(1).eq(mined.parts[2].unsqueeze(0)).nonzero();
  auto positiveRows = matching.select(1, 0);
  auto negativeRows = matching.select(1, 1);
  return {{mined.parts[0].index_select(0, positiveRows), mined.parts[1].index_select(0, positiveRows),
           mined.parts[3].index_select(0, negativeRows)}};
}

}  // namespace finetuner

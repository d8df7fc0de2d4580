// The ranking term of CoSENT (Su 2022) that CoSENTLoss and AnglELoss share, as sentence-transformers
// computes it: log(1 + sum over pairs (i, j) with score_i < score_j of exp(scale * (sim_i - sim_j))),
// so every pair scored lower than another must be less similar. Pairs with equal scores take no part.
#pragma once

#include "batch_checks.h"

namespace finetuner {

// Checks the batch (two inputs, one score per pair) and returns its pairs' inputs.
inline std::pair<torch::Tensor, torch::Tensor> scoredPairs(const LossBatch& batch, const char* loss) {
  requireInputs(batch, loss, 2, 2, "two batches (the two texts of each scored pair)");
  requireScoreTargets(batch, loss);
  const auto& first = batch.embeddings[0];
  const auto& second = batch.embeddings[1];
  TORCH_CHECK(first.size(0) == second.size(0) && batch.targets.size(0) == first.size(0), loss, ": one score per pair is needed");
  return {first, second};
}

// similarities: N (one per pair); scores: the pairs' gold scores (N, on the CPU).
inline torch::Tensor cosentRanking(const torch::Tensor& similarities, const torch::Tensor& scores, double scale) {
  auto scaled = similarities * scale;
  auto differences = scaled.unsqueeze(1) - scaled.unsqueeze(0);  // [i][j] = sim_i - sim_j
  auto gold = scores.to(similarities.device(), similarities.scalar_type());
  auto ranked = gold.unsqueeze(1).lt(gold.unsqueeze(0)).to(similarities.scalar_type());  // score_i < score_j
  // Pairs not ranked are pushed to exp(-1e12) = 0, as sentence-transformers does; the leading 0 is log(1).
  differences = differences - (1 - ranked) * 1e12;
  auto terms = torch::cat({torch::zeros({1}, differences.options()), differences.reshape({-1})});
  return torch::logsumexp(terms, 0);
}

}  // namespace finetuner

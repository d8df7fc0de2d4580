#include "pair_losses.h"

#include <limits>

namespace finetuner {
namespace {

torch::Tensor unitRows(const torch::Tensor& x) {
  return x / x.norm(2, {1}, true).clamp_min(1e-12);
}

}  // namespace

torch::Tensor multipleNegativesRankingLoss(const torch::Tensor& queries, const torch::Tensor& documents,
                                           const torch::Tensor& negatives, const torch::Tensor& groups,
                                           double scale) {
  const auto n = queries.size(0);
  TORCH_CHECK(documents.size(0) == n, "one document per query is needed");
  TORCH_CHECK(groups.size(0) == n, "one group id per pair is needed");
  auto candidates = negatives.defined() ? torch::cat({documents, negatives}, 0) : documents;
  auto scores = torch::matmul(unitRows(queries.to(torch::kFloat32)), unitRows(candidates.to(torch::kFloat32)).t()) * scale;
  // Another row of the same group is a positive too, not a negative: leave it out of the softmax.
  auto groupsOnDevice = groups.to(scores.device());
  auto sameGroup = groupsOnDevice.unsqueeze(1).eq(groupsOnDevice.unsqueeze(0));
  auto eye = torch::eye(n, torch::TensorOptions().dtype(torch::kBool).device(scores.device()));
  auto excluded = sameGroup.logical_and(eye.logical_not());
  if (candidates.size(0) > n) {
    auto noExclusion = torch::zeros({n, candidates.size(0) - n}, excluded.options());
    excluded = torch::cat({excluded, noExclusion}, 1);
  }
  scores = scores.masked_fill(excluded, -std::numeric_limits<float>::infinity());
  auto targets = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(scores.device()));
  return torch::nn::functional::cross_entropy(scores, targets);
}

torch::Tensor cosineSimilarityLoss(const torch::Tensor& first, const torch::Tensor& second,
                                   const torch::Tensor& scores) {
  TORCH_CHECK(first.size(0) == second.size(0) && scores.size(0) == first.size(0), "one score per pair is needed");
  auto cosine = (unitRows(first.to(torch::kFloat32)) * unitRows(second.to(torch::kFloat32))).sum(1);
  return torch::mse_loss(cosine, scores.to(cosine.device(), torch::kFloat32));
}

}  // namespace finetuner

// The score matrix of the in-batch-negatives losses (MultipleNegativesRankingLoss, its cached and
// symmetric forms): each query against every document of the batch, then every hard negative, as scaled
// cosine similarities, with the other rows of the query's group masked out (one query with several
// documents: those are positives too, not negatives).
#pragma once

#include "batch_checks.h"
#include "distances.h"

#include <limits>

namespace finetuner {

// Checks the batch (queries, documents[, negatives]; group ids) and returns the N x M scores, M = N or 2N.
inline torch::Tensor inBatchScores(const LossBatch& batch, double scale, const char* loss) {
  requireInputs(batch, loss, 2, 3, "queries, documents and optionally hard negatives");
  requireIdTargets(batch, loss, "group ids");
  const auto& queries = batch.embeddings[0];
  const auto& documents = batch.embeddings[1];
  const auto n = queries.size(0);
  TORCH_CHECK(documents.size(0) == n, loss, ": one document per query is needed");
  TORCH_CHECK(batch.embeddings.size() < 3 || batch.embeddings[2].size(0) == n, loss, ": one hard negative per query is needed");
  TORCH_CHECK(batch.targets.size(0) == n, loss, ": one group id per pair is needed");
  auto candidates = batch.embeddings.size() == 3 ? torch::cat({documents, batch.embeddings[2]}, 0) : documents;
  auto scores = torch::matmul(unitRows(queries), unitRows(candidates).t()) * scale;
  // Another row of the same group is a positive too, not a negative: leave it out of the softmax.
  auto excluded = sameLabel(batch.targets, scores.device()).logical_and(identityMask(n, scores.device()).logical_not());
  if (candidates.size(0) > n) {
    auto noExclusion = torch::zeros({n, candidates.size(0) - n}, excluded.options());
    excluded = torch::cat({excluded, noExclusion}, 1);
  }
  return scores.masked_fill(excluded, -std::numeric_limits<double>::infinity());
}

// Row i's target is column i (its own document).
inline torch::Tensor diagonalTargets(int64_t n, torch::Device device) {
  return torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(device));
}

}  // namespace finetuner

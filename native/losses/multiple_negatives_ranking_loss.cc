// MultipleNegativesRankingLoss, as sentence-transformers defines it, for (query, document[, hard
// negative]) pairs: cross-entropy of each query against every document in the batch (its own is the
// target) on cosine similarities times `scale` (default 20). Rows of the same group (one query with
// several documents) are not negatives of each other. Inputs: queries, documents[, negatives]; targets:
// group ids.
#include "batch_checks.h"
#include "distances.h"
#include "loss_registry.h"

#include <limits>

namespace finetuner {
namespace {

class MultipleNegativesRankingLoss : public Loss {
 public:
  explicit MultipleNegativesRankingLoss(const LossOptions& options) : scale_(options.number("scale", 20.0)) {
    TORCH_CHECK(scale_ > 0, "MultipleNegativesRankingLoss: scale must be positive, got ", scale_);
  }

  LossValue compute(const LossBatch& batch) override {
    requireInputs(batch, "MultipleNegativesRankingLoss", 2, 3, "queries, documents and optionally hard negatives");
    requireIdTargets(batch, "MultipleNegativesRankingLoss", "group ids");
    const auto& queries = batch.embeddings[0];
    const auto& documents = batch.embeddings[1];
    const auto n = queries.size(0);
    TORCH_CHECK(documents.size(0) == n, "one document per query is needed");
    TORCH_CHECK(batch.targets.size(0) == n, "one group id per pair is needed");
    auto candidates = batch.embeddings.size() == 3 ? torch::cat({documents, batch.embeddings[2]}, 0) : documents;
    auto scores = torch::matmul(unitRows(queries.to(torch::kFloat32)), unitRows(candidates.to(torch::kFloat32)).t()) * scale_;
    // Another row of the same group is a positive too, not a negative: leave it out of the softmax.
    auto excluded = sameLabel(batch.targets, scores.device()).logical_and(identityMask(n, scores.device()).logical_not());
    if (candidates.size(0) > n) {
      auto noExclusion = torch::zeros({n, candidates.size(0) - n}, excluded.options());
      excluded = torch::cat({excluded, noExclusion}, 1);
    }
    scores = scores.masked_fill(excluded, -std::numeric_limits<float>::infinity());
    auto targets = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(scores.device()));
    return {torch::nn::functional::cross_entropy(scores, targets), n};
  }

 private:
  double scale_;
};

const LossRegistration kRegistration("MultipleNegativesRankingLoss", [](const LossOptions& options, const LossContext&) {
  return std::make_unique<MultipleNegativesRankingLoss>(options);
});

}  // namespace
}  // namespace finetuner

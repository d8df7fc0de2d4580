// MultipleNegativesSymmetricRankingLoss, as sentence-transformers defines it: the mean of
// MultipleNegativesRankingLoss (each query against the batch's documents and hard negatives) and its
// reverse (each document against the batch's queries; hard negatives take no part in that direction).
// Cosine similarities times `scale` (default 20); rows of one group are not negatives of each other.
// Inputs: queries, documents[, negatives]; targets: group ids.
#include "in_batch_negatives.h"
#include "loss_registry.h"

namespace finetuner {
namespace {

class MultipleNegativesSymmetricRankingLoss : public Loss {
 public:
  explicit MultipleNegativesSymmetricRankingLoss(const LossOptions& options) : scale_(options.number("scale", 20.0)) {
    TORCH_CHECK(scale_ > 0, "MultipleNegativesSymmetricRankingLoss: scale must be positive, got ", scale_);
  }

  LossValue compute(const LossBatch& batch) override {
    auto scores = inBatchScores(batch, scale_, "MultipleNegativesSymmetricRankingLoss");
    const auto n = scores.size(0);
    auto targets = diagonalTargets(n, scores.device());
    auto queryToDocument = torch::nn::functional::cross_entropy(scores, targets);
    // The group mask is symmetric, so the transposed document block masks the same rows.
    auto documentToQuery = torch::nn::functional::cross_entropy(scores.slice(1, 0, n).t(), targets);
    return {(queryToDocument + documentToQuery) / 2, n};
  }

 private:
  double scale_;
};

const LossRegistration kRegistration("MultipleNegativesSymmetricRankingLoss", [](const LossOptions& options, const LossContext&) {
  return std::make_unique<MultipleNegativesSymmetricRankingLoss>(options);
});

}  // namespace
}  // namespace finetuner

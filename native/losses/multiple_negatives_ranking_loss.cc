// MultipleNegativesRankingLoss, as sentence-transformers defines it, for (query, document[, hard
// negative]) pairs: cross-entropy of each query against every document in the batch (its own is the
// target) on cosine similarities times `scale` (default 20). Rows of the same group (one query with
// several documents) are not negatives of each other. Inputs: queries, documents[, negatives]; targets:
// group ids.
#include "in_batch_negatives.h"
#include "loss_registry.h"

namespace finetuner {
namespace {

class MultipleNegativesRankingLoss : public Loss {
 public:
  explicit MultipleNegativesRankingLoss(const LossOptions& options) : scale_(options.number("scale", 20.0)) {
    TORCH_CHECK(scale_ > 0, "MultipleNegativesRankingLoss: scale must be positive, got ", scale_);
  }

  LossValue compute(const LossBatch& batch) override {
    auto scores = inBatchScores(batch, scale_, "MultipleNegativesRankingLoss");
    const auto n = scores.size(0);
    return {torch::nn::functional::cross_entropy(scores, diagonalTargets(n, scores.device())), n};
  }

 private:
  double scale_;
};

const LossRegistration kRegistration("MultipleNegativesRankingLoss", [](const LossOptions& options, const LossContext&) {
  return std::make_unique<MultipleNegativesRankingLoss>(options);
});

}  // namespace
}  // namespace finetuner

// CachedMultipleNegativesRankingLoss (sentence-transformers; GradCache, Gao et al. 2021): the value and
// gradient of MultipleNegativesRankingLoss, over a batch far larger than memory holds. The training step
// (EmbeddingCore::trainStep) sees cachedMiniBatch() and embeds the batch `miniBatchSize` rows at a time
// without keeping the graph, calls compute() on the whole batch's detached embeddings, then embeds each
// mini-batch again with the graph (dropout replayed from the saved random state) and back-propagates the
// cached embedding gradient. Memory grows with the mini-batch, not the batch. Options: scale (20),
// miniBatchSize (32). Inputs: queries, documents[, negatives]; targets: group ids.
#include "in_batch_negatives.h"
#include "loss_registry.h"

namespace finetuner {
namespace {

class CachedMultipleNegativesRankingLoss : public Loss {
 public:
  explicit CachedMultipleNegativesRankingLoss(const LossOptions& options)
      : scale_(options.number("scale", 20.0)), miniBatchSize_(options.number("miniBatchSize", 32.0)) {
    TORCH_CHECK(scale_ > 0, "CachedMultipleNegativesRankingLoss: scale must be positive, got ", scale_);
    TORCH_CHECK(miniBatchSize_ >= 1 && miniBatchSize_ == static_cast<double>(static_cast<int64_t>(miniBatchSize_)),
                "CachedMultipleNegativesRankingLoss: miniBatchSize must be a positive integer, got ", miniBatchSize_);
  }

  LossValue compute(const LossBatch& batch) override {
    auto scores = inBatchScores(batch, scale_, "CachedMultipleNegativesRankingLoss");
    const auto n = scores.size(0);
    return {torch::nn::functional::cross_entropy(scores, diagonalTargets(n, scores.device())), n};
  }

  int64_t cachedMiniBatch() const override { return static_cast<int64_t>(miniBatchSize_); }

 private:
  double scale_;
  double miniBatchSize_;
};

const LossRegistration kRegistration("CachedMultipleNegativesRankingLoss", [](const LossOptions& options, const LossContext&) {
  return std::make_unique<CachedMultipleNegativesRankingLoss>(options);
});

}  // namespace
}  // namespace finetuner

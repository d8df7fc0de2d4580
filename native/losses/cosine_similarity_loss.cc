// CosineSimilarityLoss, as sentence-transformers defines it, for pairs with a similarity score in
// [0, 1]: mean squared error between cos(first, second) and the score. Inputs: first, second; targets:
// scores. No options.
#include "batch_checks.h"
#include "distances.h"
#include "loss_registry.h"

namespace finetuner {
namespace {

class CosineSimilarityLoss : public Loss {
 public:
  LossValue compute(const LossBatch& batch) override {
    requireInputs(batch, "CosineSimilarityLoss", 2, 2, "two batches (the two texts of each scored pair)");
    requireScoreTargets(batch, "CosineSimilarityLoss");
    const auto& first = batch.embeddings[0];
    const auto& second = batch.embeddings[1];
    TORCH_CHECK(first.size(0) == second.size(0) && batch.targets.size(0) == first.size(0), "one score per pair is needed");
    auto cosine = (unitRows(first.to(torch::kFloat32)) * unitRows(second.to(torch::kFloat32))).sum(1);
    return {torch::mse_loss(cosine, batch.targets.to(cosine.device(), torch::kFloat32)), first.size(0)};
  }
};

const LossRegistration kRegistration("CosineSimilarityLoss", [](const LossOptions&, const LossContext&) {
  return std::make_unique<CosineSimilarityLoss>();
});

}  // namespace
}  // namespace finetuner

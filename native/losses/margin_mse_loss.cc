// MarginMSELoss (Hofstätter et al. 2020), as sentence-transformers defines it, for distillation from a
// teacher (often a cross-encoder): mean squared error between the student's margin
// dot(query, positive) - dot(query, negative) and the teacher's margin for the same triple. Dot
// products, not cosines: the student learns the teacher's score scale too. No options. Inputs: queries,
// positives, negatives; targets: teacher margins (scores, any real number).
#include "batch_checks.h"
#include "loss_registry.h"

namespace finetuner {
namespace {

class MarginMSELoss : public Loss {
 public:
  LossValue compute(const LossBatch& batch) override {
    requireInputs(batch, "MarginMSELoss", 3, 3, "queries, positives and negatives");
    requireScoreTargets(batch, "MarginMSELoss");
    const auto& queries = batch.embeddings[0];
    const auto& positives = batch.embeddings[1];
    const auto& negatives = batch.embeddings[2];
    const auto n = queries.size(0);
    TORCH_CHECK(positives.size(0) == n && negatives.size(0) == n && batch.targets.size(0) == n,
                "MarginMSELoss: one positive, one negative and one teacher margin per query are needed");
    auto margins = (queries * positives).sum(1) - (queries * negatives).sum(1);
    return {torch::mse_loss(margins, batch.targets.to(margins.device(), margins.scalar_type())), n};
  }
};

const LossRegistration kRegistration("MarginMSELoss", [](const LossOptions&, const LossContext&) {
  return std::make_unique<MarginMSELoss>();
});

}  // namespace
}  // namespace finetuner

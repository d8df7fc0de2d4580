// CoSENTLoss (Su 2022), as sentence-transformers defines it, for (text, text, score) pairs: the CoSENT
// ranking of the pairs' cosine similarities by their scores (cosent_ranking.h), scale 20 by default.
// Only the order of the scores matters, so they need not be in [0, 1] for the loss (the data reader
// still asks for [0, 1]). Inputs: first, second; targets: scores.
#include "cosent_ranking.h"
#include "distances.h"
#include "loss_registry.h"

namespace finetuner {
namespace {

class CoSENTLoss : public Loss {
 public:
  explicit CoSENTLoss(const LossOptions& options) : scale_(options.number("scale", 20.0)) {
    TORCH_CHECK(scale_ > 0, "CoSENTLoss: scale must be positive, got ", scale_);
  }

  LossValue compute(const LossBatch& batch) override {
    auto [first, second] = scoredPairs(batch, "CoSENTLoss");
    auto cosines = (unitRows(first) * unitRows(second)).sum(1);
    return {cosentRanking(cosines, batch.targets, scale_), first.size(0)};
  }

 private:
  double scale_;
};

const LossRegistration kRegistration("CoSENTLoss", [](const LossOptions& options, const LossContext&) {
  return std::make_unique<CoSENTLoss>(options);
});

}  // namespace
}  // namespace finetuner

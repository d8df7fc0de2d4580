// CircleLoss (pytorch-metric-learning; Sun et al. 2020), on cosine similarity only: per anchor
// softplus(logsumexp of its weighted positives + logsumexp of its weighted negatives), averaged over
// the non-zero anchors (AvgNonZeroReducer). Options: m (0.4, the relaxation), gamma (80, the scale),
// miner (none).
#include "loss_registry.h"
#include "metric_loss.h"

namespace finetuner {
namespace {

class CircleLoss : public MetricLoss {
 public:
  explicit CircleLoss(const LossOptions& options)
      : MetricLoss("CircleLoss", options, "cosine"), m_(options.number("m", 0.4)), gamma_(options.number("gamma", 80.0)) {
    TORCH_CHECK(distance_.inverted(), "CircleLoss works on cosine similarity only (distance 'cosine')");
    TORCH_CHECK(gamma_ > 0, "CircleLoss: gamma must be positive, got ", gamma_);
  }

 protected:
  LossValue formula(const torch::Tensor& embeddings, const torch::Tensor& labels, const IndicesTuple& mined) override {
    auto pairs = toPairs(mined, labels, embeddings.device());
    LossValue value;
    value.examples = pairs.size();
    if (tooFewPairs(pairs)) {
      value.loss = zeroLoss(embeddings);
      return value;
    }
    auto mat = distance_.matrix(embeddings);
    auto [positiveMask, negativeMask] = pairMasks(pairs, mat);
    auto positive = positiveMask.to(torch::kBool);
    auto negative = negativeMask.to(torch::kBool);
    auto detached = mat.detach();
    // op = 1 + m, on = -m, delta_p = 1 - m, delta_n = m (the paper's optima and margins).
    auto positiveTerm = -gamma_ * torch::relu(1 + m_ - detached) * (mat - (1 - m_));
    auto negativeTerm = gamma_ * torch::relu(detached + m_) * (mat - m_);
    auto weighted = torch::where(negative, negativeTerm, torch::where(positive, positiveTerm, torch::zeros_like(mat)));
    auto losses = torch::softplus(maskedLogSumExp(weighted, positive, false) + maskedLogSumExp(weighted, negative, false));
    auto complete = positive.any(1, true).logical_and(negative.any(1, true));
    value.loss = avgNonZeroReduce(losses * complete.to(losses.scalar_type()), embeddings);
    return value;
  }

 private:
  double m_;
  double gamma_;
};

const LossRegistration kRegistration("CircleLoss", [](const LossOptions& options, const LossContext&) {
  return std::make_unique<CircleLoss>(options);
});

}  // namespace
}  // namespace finetuner

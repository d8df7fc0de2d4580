// LiftedStructureLoss (pytorch-metric-learning; Oh Song et al. 2016): per positive pair,
// relu(logsumexp over the negative pairs of either of its rows of (negMargin - d) + d - posMargin)^2 / 2,
// averaged over the positive pairs (MeanReducer). Options: negMargin (1), posMargin (0), distance (l2),
// miner (none).
#include "loss_registry.h"
#include "metric_loss.h"

namespace finetuner {
namespace {

class LiftedStructureLoss : public MetricLoss {
 public:
  explicit LiftedStructureLoss(const LossOptions& options)
      : MetricLoss("LiftedStructureLoss", options, "l2"),
        negMargin_(options.number("negMargin", 1.0)),
        posMargin_(options.number("posMargin", 0.0)) {}

 protected:
  LossValue formula(const torch::Tensor& embeddings, const torch::Tensor& labels, const IndicesTuple& mined) override {
    auto pairs = toPairs(mined, labels, embeddings.device());
    const auto& a1 = pairs.parts[0];
    const auto& p = pairs.parts[1];
    const auto& a2 = pairs.parts[2];
    LossValue value;
    value.examples = a1.numel();
    if (tooFewPairs(pairs) || a1.numel() == 0 || a2.numel() == 0) {
      value.examples = 0;
      value.loss = zeroLoss(embeddings);
      return value;
    }
    auto mat = distance_.matrix(embeddings);
    auto positive = mat.index({a1, p}).unsqueeze(1);
    auto negative = mat.index({a2, pairs.parts[3]}).unsqueeze(0).expand({a1.numel(), a2.numel()});
    auto keep = a2.unsqueeze(0).eq(a1.unsqueeze(1)).logical_or(a2.unsqueeze(0).eq(p.unsqueeze(1)));
    auto negativeLoss = maskedLogSumExp(distance_.margin(negMargin_, negative * keep.to(mat.scalar_type())), keep, false);
    auto perPositive = torch::relu(negativeLoss + distance_.margin(positive, posMargin_)).pow(2) / 2;
    value.loss = meanReduce(perPositive, embeddings);
    return value;
  }

 private:
  double negMargin_;
  double posMargin_;
};

const LossRegistration kRegistration("LiftedStructureLoss", [](const LossOptions& options, const LossContext&) {
  return std::make_unique<LiftedStructureLoss>(options);
});

}  // namespace
}  // namespace finetuner

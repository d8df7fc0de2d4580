// SupConLoss (pytorch-metric-learning; Khosla et al. 2020): per anchor, the mean log-probability of its
// positives in the softmax over its positives and negatives at `temperature`, negated and averaged over
// the non-zero anchors (AvgNonZeroReducer). Options: temperature (0.1), distance (cosine), miner (none).
#include "loss_registry.h"
#include "metric_loss.h"

namespace finetuner {
namespace {

class SupConLoss : public MetricLoss {
 public:
  explicit SupConLoss(const LossOptions& options)
      : MetricLoss("SupConLoss", options, "cosine"), temperature_(options.number("temperature", 0.1)) {
    TORCH_CHECK(temperature_ > 0, "SupConLoss: temperature must be positive, got ", temperature_);
  }

 protected:
  LossValue formula(const torch::Tensor& embeddings, const torch::Tensor& labels, const IndicesTuple& mined) override {
    auto pairs = toPairs(mined, labels, embeddings.device());
    LossValue value;
    value.examples = pairs.parts[0].numel();
    auto mat = distance_.matrix(embeddings);
    if (tooFewPairs(pairs)) {
      value.loss = zeroLoss(embeddings);
      return value;
    }
    auto [positive, negative] = pairMasks(pairs, mat);
    if (!positive.to(torch::kBool).any().item<bool>() || !negative.to(torch::kBool).any().item<bool>()) {
      value.loss = zeroLoss(embeddings);
      return value;
    }
    if (!distance_.inverted()) mat = -mat;
    mat = mat / temperature_;
    mat = mat - std::get<0>(mat.max(1, true)).detach();  // for numerical stability
    auto denominator = maskedLogSumExp(mat, (positive + negative).to(torch::kBool), false);
    auto logProbability = mat - denominator;
    auto meanPositive = (positive * logProbability).sum(1) / (positive.sum(1) + tiny(mat));
    value.loss = avgNonZeroReduce(-meanPositive, embeddings);
    return value;
  }

 private:
  double temperature_;
};

const LossRegistration kRegistration("SupConLoss", [](const LossOptions& options, const LossContext&) {
  return std::make_unique<SupConLoss>(options);
});

}  // namespace
}  // namespace finetuner

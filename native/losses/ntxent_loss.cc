// NTXentLoss, also known as InfoNCE (pytorch-metric-learning; Chen et al. 2020, SimCLR): each positive
// pair's softmax cross-entropy against the negative pairs of its anchor, at `temperature`, averaged over
// the positive pairs (MeanReducer). Options: temperature (0.07), distance (cosine), miner (none).
#include "loss_registry.h"
#include "metric_loss.h"

namespace finetuner {
namespace {

class NTXentLoss : public MetricLoss {
 public:
  explicit NTXentLoss(const LossOptions& options)
      : MetricLoss("NTXentLoss", options, "cosine"), temperature_(options.number("temperature", 0.07)) {
    TORCH_CHECK(temperature_ > 0, "NTXentLoss: temperature must be positive, got ", temperature_);
  }

 protected:
  LossValue formula(const torch::Tensor& embeddings, const torch::Tensor& labels, const IndicesTuple& mined) override {
    auto pairs = toPairs(mined, labels, embeddings.device());
    const auto& a1 = pairs.parts[0];
    const auto& a2 = pairs.parts[2];
    LossValue value;
    value.examples = a1.numel();
    if (tooFewPairs(pairs) || a1.numel() == 0 || a2.numel() == 0) {
      value.examples = 0;
      value.loss = zeroLoss(embeddings);
      return value;
    }
    auto mat = distance_.matrix(embeddings);
    auto positive = mat.index({a1, pairs.parts[1]});
    auto negative = mat.index({a2, pairs.parts[3]});
    if (!distance_.inverted()) {  // distances: larger is farther
      positive = -positive;
      negative = -negative;
    }
    positive = positive.unsqueeze(1) / temperature_;
    auto sameAnchor = a2.unsqueeze(0).eq(a1.unsqueeze(1));  // positive pair x negative pair
    auto negatives = (negative / temperature_).unsqueeze(0).expand({a1.numel(), a2.numel()}).masked_fill(sameAnchor.logical_not(), lowest(mat));
    auto maxValue = torch::max(positive, std::get<0>(negatives.max(1, true))).detach();
    auto numerator = torch::exp(positive - maxValue).squeeze(1);
    auto denominator = torch::exp(negatives - maxValue).sum(1) + numerator;
    value.loss = meanReduce(-torch::log(numerator / denominator + tiny(mat)), embeddings);
    return value;
  }

 private:
  double temperature_;
};

const LossRegistration kRegistration("NTXentLoss", [](const LossOptions& options, const LossContext&) {
  return std::make_unique<NTXentLoss>(options);
});

}  // namespace
}  // namespace finetuner

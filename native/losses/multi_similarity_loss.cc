// MultiSimilarityLoss (pytorch-metric-learning; Wang et al. 2019): per anchor,
// log(1 + sum exp(-alpha (s_p - base))) / alpha + log(1 + sum exp(beta (s_n - base))) / beta, averaged
// over the batch (MeanReducer). Options: alpha (2), beta (50), base (0.5), distance (cosine), miner
// (none; PML pairs it with MultiSimilarityMiner).
#include "loss_registry.h"
#include "metric_loss.h"

namespace finetuner {
namespace {

class MultiSimilarityLoss : public MetricLoss {
 public:
  explicit MultiSimilarityLoss(const LossOptions& options)
      : MetricLoss("MultiSimilarityLoss", options, "cosine"),
        alpha_(options.number("alpha", 2.0)),
        beta_(options.number("beta", 50.0)),
        base_(options.number("base", 0.5)) {
    TORCH_CHECK(alpha_ > 0 && beta_ > 0, "MultiSimilarityLoss: alpha and beta must be positive");
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
    auto [positive, negative] = pairMasks(pairs, mat);
    auto positiveLoss = maskedLogSumExp(alpha_ * distance_.margin(mat, base_), positive.to(torch::kBool), true) / alpha_;
    auto negativeLoss = maskedLogSumExp(beta_ * distance_.margin(base_, mat), negative.to(torch::kBool), true) / beta_;
    value.loss = meanReduce(positiveLoss + negativeLoss, embeddings);
    return value;
  }

 private:
  double alpha_;
  double beta_;
  double base_;
};

const LossRegistration kRegistration("MultiSimilarityLoss", [](const LossOptions& options, const LossContext&) {
  return std::make_unique<MultiSimilarityLoss>(options);
});

}  // namespace
}  // namespace finetuner

// MarginLoss (pytorch-metric-learning; Wu et al. 2017): per triplet relu(d(a,p) - beta + margin) +
// relu(beta - d(a,n) + margin), summed and divided by the number of non-zero terms (DivisorReducer).
// Options: margin (0.2), beta (1.2, fixed: PML's learn_beta and per-class betas are not offered),
// distance (l2), miner (none).
#include "loss_registry.h"
#include "metric_loss.h"

namespace finetuner {
namespace {

class MarginLoss : public MetricLoss {
 public:
  explicit MarginLoss(const LossOptions& options)
      : MetricLoss("MarginLoss", options, "l2"), margin_(options.number("margin", 0.2)), beta_(options.number("beta", 1.2)) {}

 protected:
  LossValue formula(const torch::Tensor& embeddings, const torch::Tensor& labels, const IndicesTuple& mined) override {
    auto triplets = toTriplets(mined, labels, embeddings.device());
    LossValue value;
    value.examples = triplets.size();
    if (value.examples == 0) {
      value.loss = zeroLoss(embeddings);
      return value;
    }
    auto mat = distance_.matrix(embeddings);
    auto positive = torch::relu(distance_.margin(mat.index({triplets.parts[0], triplets.parts[1]}), beta_) + margin_);
    auto negative = torch::relu(distance_.margin(beta_, mat.index({triplets.parts[0], triplets.parts[2]})) + margin_);
    auto divisor = (positive > 0).sum().item<int64_t>() + (negative > 0).sum().item<int64_t>();
    value.loss = divisor > 0 ? (positive + negative).sum() / static_cast<double>(divisor) : zeroLoss(embeddings);
    return value;
  }

 private:
  double margin_;
  double beta_;
};

const LossRegistration kRegistration("MarginLoss", [](const LossOptions& options, const LossContext&) {
  return std::make_unique<MarginLoss>(options);
});

}  // namespace
}  // namespace finetuner

// ArcFaceLoss (pytorch-metric-learning; Deng et al. 2019): softmax over class weights with an additive
// angular margin on the target class, cos(theta + margin) (kept monotonic past 180 degrees - margin).
// Options: numClasses (required), margin (28.6 degrees), scale (64), lossLearningRate (0.01), miner.
#include "large_margin_softmax.h"
#include "loss_registry.h"

#include <cmath>

namespace finetuner {
namespace {

class ArcFaceLoss : public LargeMarginSoftmax {
 public:
  ArcFaceLoss(const LossOptions& options, const LossContext& context)
      : LargeMarginSoftmax("ArcFaceLoss", options, context, 64.0), margin_(options.number("margin", 28.6) * M_PI / 180.0) {}

 protected:
  torch::Tensor modifyTargetCosine(const torch::Tensor& cosine) const override {
    auto angles = torch::acos(cosine.clamp(-1, 1));
    return torch::where(angles <= M_PI - margin_, torch::cos(angles + margin_), torch::cos(angles) - margin_ * std::sin(margin_));
  }

 private:
  double margin_;
};

const LossRegistration kRegistration("ArcFaceLoss", [](const LossOptions& options, const LossContext& context) {
  return std::make_unique<ArcFaceLoss>(options, context);
});

}  // namespace
}  // namespace finetuner

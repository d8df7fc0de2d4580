// CosFaceLoss (pytorch-metric-learning; Wang et al. 2018): softmax over class weights with an additive
// cosine margin on the target class, cos(theta) - margin. Options: numClasses (required), margin (0.35),
// scale (64), lossLearningRate (0.01), miner.
#include "large_margin_softmax.h"
#include "loss_registry.h"

namespace finetuner {
namespace {

class CosFaceLoss : public LargeMarginSoftmax {
 public:
  CosFaceLoss(const LossOptions& options, const LossContext& context)
      : LargeMarginSoftmax("CosFaceLoss", options, context, 64.0), margin_(options.number("margin", 0.35)) {}

 protected:
  torch::Tensor modifyTargetCosine(const torch::Tensor& cosine) const override { return cosine - margin_; }

 private:
  double margin_;
};

const LossRegistration kRegistration("CosFaceLoss", [](const LossOptions& options, const LossContext& context) {
  return std::make_unique<CosFaceLoss>(options, context);
});

}  // namespace
}  // namespace finetuner

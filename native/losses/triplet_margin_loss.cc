// TripletMarginLoss with an online miner, as the original finetuner used for labelled data
// (pytorch-metric-learning's TripletMarginLoss + a miner): triplets are mined inside each batch that the
// class sampler built, on detached embeddings, and the loss is the mean hinge of the mined triplets on
// the differentiable L2 distances. Options: margin (0.2), miner ("batch-hard"; miners/).
#include "batch_checks.h"
#include "distances.h"
#include "loss_registry.h"
#include "miners/miner_registry.h"

namespace finetuner {
namespace {

class TripletMarginLoss : public Loss {
 public:
  explicit TripletMarginLoss(const LossOptions& options)
      : margin_(options.number("margin", 0.2)), miner_(makeMiner(options.string("miner", "batch-hard"), options)) {
    TORCH_CHECK(margin_ > 0, "TripletMarginLoss: margin must be positive, got ", margin_);
  }

  LossValue compute(const LossBatch& batch) override {
    requireInputs(batch, "TripletMarginLoss", 1, 1, "one batch of labelled items");
    requireIdTargets(batch, "TripletMarginLoss", "labels");
    const auto& embeddings = batch.embeddings[0];
    TORCH_CHECK(embeddings.dim() == 2, "embeddings must be 2-D");
    TORCH_CHECK(batch.targets.size(0) == embeddings.size(0), "one label per row is needed");
    auto mined = miner_->mine(embeddings.detach(), batch.targets);
    LossValue value;
    value.examples = mined.size();
    // With no mined triplet the loss is a zero that still depends on the embeddings, so backward works
    // and simply produces zero gradients.
    if (value.examples == 0) {
      value.loss = embeddings.sum() * 0.0;
      return value;
    }
    auto distances = pairwiseL2Distances(embeddings.to(torch::kFloat32));
    auto anchorPositive = distances.index({mined.anchors, mined.positives});
    auto anchorNegative = distances.index({mined.anchors, mined.negatives});
    value.loss = torch::relu(anchorPositive - anchorNegative + margin_).mean();
    return value;
  }

 private:
  double margin_;
  std::unique_ptr<Miner> miner_;
};

const LossRegistration kRegistration("TripletMarginLoss", [](const LossOptions& options, const LossContext&) {
  return std::make_unique<TripletMarginLoss>(options);
});

}  // namespace
}  // namespace finetuner

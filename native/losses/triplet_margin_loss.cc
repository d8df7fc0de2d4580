// TripletMarginLoss. With a pytorch-metric-learning miner or none (the default: every triplet of the
// batch) it is PML's TripletMarginLoss with PML's defaults: relu(d(a,p) - d(a,n) + margin) on PML's
// distance (`distance`: l2 of the normalised rows, or cosine), averaged over the non-zero triplets
// (AvgNonZeroReducer). With one of the original finetuner's miners (batch-hard, semi-hard, all) it is the
// original finetuner's loss, unchanged: those miners and the hinge on raw L2 distances, averaged over
// every mined triplet. Options: margin (0.05), miner (none), distance (l2).
#include "distances.h"
#include "loss_registry.h"
#include "metric_loss.h"

namespace finetuner {
namespace {

bool isOriginalMiner(const std::string& name) { return name == "batch-hard" || name == "semi-hard" || name == "all"; }

class TripletMarginLoss : public MetricLoss {
 public:
  explicit TripletMarginLoss(const LossOptions& options)
      : MetricLoss("TripletMarginLoss", options, "l2"), margin_(options.number("margin", 0.05)) {
    TORCH_CHECK(margin_ > 0, "TripletMarginLoss: margin must be positive, got ", margin_);
    TORCH_CHECK(!isOriginalMiner(minerName_) || !distance_.inverted(), "TripletMarginLoss: the ", minerName_,
                " miner works on L2 distances; use distance 'l2' or a pytorch-metric-learning miner");
  }

 protected:
  LossValue formula(const torch::Tensor& embeddings, const torch::Tensor& labels, const IndicesTuple& mined) override {
    auto triplets = toTriplets(mined, labels, embeddings.device());
    LossValue value;
    value.examples = triplets.size();
    if (value.examples == 0) {
      value.loss = zeroLoss(embeddings);
      return value;
    }
    const auto& a = triplets.parts[0];
    const auto& p = triplets.parts[1];
    const auto& n = triplets.parts[2];
    if (isOriginalMiner(minerName_)) {
      auto distances = pairwiseL2Distances(embeddings);
      value.loss = torch::relu(distances.index({a, p}) - distances.index({a, n}) + margin_).mean();
      return value;
    }
    auto mat = distance_.matrix(embeddings);
    value.loss = avgNonZeroReduce(torch::relu(distance_.margin(mat.index({a, p}), mat.index({a, n})) + margin_), embeddings);
    return value;
  }

 private:
  double margin_;
};

const LossRegistration kRegistration("TripletMarginLoss", [](const LossOptions& options, const LossContext&) {
  return std::make_unique<TripletMarginLoss>(options);
});

}  // namespace
}  // namespace finetuner

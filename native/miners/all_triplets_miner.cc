// all: every valid triplet that violates the margin (its hinge is positive). Option: margin (0.2,
// shared with the loss).
#include "label_masks.h"
#include "miner_registry.h"

namespace finetuner {
namespace {

class AllTripletsMiner : public Miner {
 public:
  explicit AllTripletsMiner(double margin) : margin_(margin) {}

  IndicesTuple mine(const torch::Tensor& embeddings, const torch::Tensor& labels) const override {
    auto distances = pairwiseL2Distances(embeddings.to(torch::kFloat32));
    LabelMasks masks(labels, distances.device());
    auto triplets = masks.positive.unsqueeze(2).logical_and(masks.negative.unsqueeze(1));
    auto violating = triplets.logical_and(distances.unsqueeze(2) - distances.unsqueeze(1) + margin_ > 0);
    auto indices = violating.nonzero();  // (anchor, positive, negative) rows
    return {{indices.select(1, 0), indices.select(1, 1), indices.select(1, 2)}};
  }

 private:
  double margin_;
};

const MinerRegistration kRegistration("all", [](const LossOptions& options) {
  return std::make_unique<AllTripletsMiner>(options.number("margin", 0.2));
});

}  // namespace
}  // namespace finetuner

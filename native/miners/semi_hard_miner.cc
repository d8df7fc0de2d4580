// semi-hard (Schroff et al. 2015, FaceNet): per positive pair, the nearest negative that is still
// farther than the positive but within the margin. Option: margin (0.2, shared with the loss).
#include "label_masks.h"
#include "miner_registry.h"

#include <limits>

namespace finetuner {
namespace {

class SemiHardMiner : public Miner {
 public:
  explicit SemiHardMiner(double margin) : margin_(margin) {}

  IndicesTuple mine(const torch::Tensor& embeddings, const torch::Tensor& labels) const override {
    auto distances = pairwiseL2Distances(embeddings.to(torch::kFloat32));
    const auto n = distances.size(0);
    LabelMasks masks(labels, distances.device());
    // Anchor x positive x negative cube; batches are small (tens of rows), so n^3 is cheap.
    auto anchorPositive = distances.unsqueeze(2);
    auto anchorNegative = distances.unsqueeze(1);
    auto semiHard = masks.positive.unsqueeze(2)
                        .logical_and(masks.negative.unsqueeze(1))
                        .logical_and(anchorNegative > anchorPositive)
                        .logical_and(anchorNegative < anchorPositive + margin_);
    auto nearest = anchorNegative.expand({n, n, n})
                       .masked_fill(semiHard.logical_not(), std::numeric_limits<double>::infinity())
                       .argmin(2);
    auto pairs = semiHard.any(2).nonzero();  // (anchor, positive) rows
    auto anchors = pairs.select(1, 0);
    auto positives = pairs.select(1, 1);
    return {{anchors, positives, nearest.index({anchors, positives})}};
  }

 private:
  double margin_;
};

const MinerRegistration kRegistration("semi-hard", [](const LossOptions& options) {
  return std::make_unique<SemiHardMiner>(options.number("margin", 0.2));
});

}  // namespace
}  // namespace finetuner

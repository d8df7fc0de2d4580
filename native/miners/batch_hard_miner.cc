// batch-hard (Hermans et al. 2017): per anchor, the farthest positive and the nearest negative. Every
// anchor with at least one of each gives a triplet, violating the margin or not. No options.
#include "label_masks.h"
#include "miner_registry.h"

#include <limits>

namespace finetuner {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

class BatchHardMiner : public Miner {
 public:
  IndicesTuple mine(const torch::Tensor& embeddings, const torch::Tensor& labels) const override {
    auto distances = pairwiseL2Distances(embeddings.to(torch::kFloat32));
    LabelMasks masks(labels, distances.device());
    auto hardestPositive = distances.masked_fill(masks.positive.logical_not(), -kInfinity).argmax(1);
    auto hardestNegative = distances.masked_fill(masks.negative.logical_not(), kInfinity).argmin(1);
    auto anchors = masks.positive.any(1).logical_and(masks.negative.any(1)).nonzero().squeeze(1);
    return {{anchors, hardestPositive.index_select(0, anchors), hardestNegative.index_select(0, anchors)}};
  }
};

const MinerRegistration kRegistration("batch-hard", [](const LossOptions&) { return std::make_unique<BatchHardMiner>(); });

}  // namespace
}  // namespace finetuner

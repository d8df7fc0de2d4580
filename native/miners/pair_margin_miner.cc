// PairMarginMiner (pytorch-metric-learning): positive pairs farther than minerPosMargin and negative
// pairs closer than minerNegMargin (the reverse for similarities). Options: minerPosMargin (0.2),
// minerNegMargin (0.8), minerDistance (l2).
#include "losses/metric_distance.h"
#include "miner_registry.h"

namespace finetuner {
namespace {

class PairMarginMiner : public Miner {
 public:
  explicit PairMarginMiner(const LossOptions& options)
      : posMargin_(options.number("minerPosMargin", 0.2)),
        negMargin_(options.number("minerNegMargin", 0.8)),
        distance_(MetricDistance::fromOptions(options, "minerDistance", "l2")) {}

  IndicesTuple mine(const torch::Tensor& embeddings, const torch::Tensor& labels) const override {
    auto pairs = allPairs(labels, embeddings.device());
    auto mat = distance_.matrix(embeddings);
    auto positive = mat.index({pairs.parts[0], pairs.parts[1]});
    auto negative = mat.index({pairs.parts[2], pairs.parts[3]});
    auto keepPositive = distance_.inverted() ? positive < posMargin_ : positive > posMargin_;
    auto keepNegative = distance_.inverted() ? negative > negMargin_ : negative < negMargin_;
    return {{pairs.parts[0].masked_select(keepPositive), pairs.parts[1].masked_select(keepPositive),
             pairs.parts[2].masked_select(keepNegative), pairs.parts[3].masked_select(keepNegative)}};
  }

 private:
  double posMargin_;
  double negMargin_;
  MetricDistance distance_;
};

const MinerRegistration kRegistration("PairMarginMiner",
                                      [](const LossOptions& options) { return std::make_unique<PairMarginMiner>(options); });

}  // namespace
}  // namespace finetuner

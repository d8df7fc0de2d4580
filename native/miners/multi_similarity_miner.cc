// MultiSimilarityMiner (pytorch-metric-learning; Wang et al. 2019): positive pairs less similar than the
// anchor's most similar negative plus minerEpsilon, and negative pairs more similar than its least
// similar positive minus minerEpsilon. Options: minerEpsilon (0.1), minerDistance (cosine).
#include "losses/metric_distance.h"
#include "miner_registry.h"

namespace finetuner {
namespace {

class MultiSimilarityMiner : public Miner {
 public:
  explicit MultiSimilarityMiner(const LossOptions& options)
      : epsilon_(options.number("minerEpsilon", 0.1)), distance_(MetricDistance::fromOptions(options, "minerDistance", "cosine")) {}

  IndicesTuple mine(const torch::Tensor& embeddings, const torch::Tensor& labels) const override {
    auto [matches, diffs] = matchesAndDiffs(labels, embeddings.device());
    if (!matches.any().item<bool>() || !diffs.any().item<bool>()) {
      auto empty = torch::empty({0}, torch::TensorOptions().dtype(torch::kLong).device(embeddings.device()));
      return {{empty, empty, empty, empty}};
    }
    auto mat = distance_.matrix(embeddings);
    bool inverted = distance_.inverted();
    double positiveIgnore = inverted ? highest(mat) : lowest(mat);
    double negativeIgnore = inverted ? lowest(mat) : highest(mat);
    // Non-positives (negatives and the diagonal) are pushed to one end of the positives' sort, and
    // non-negatives to the other end of the negatives' sort, as PML does.
    auto positiveSorting = mat.masked_fill(matches.logical_not(), positiveIgnore);
    auto negativeSorting = mat.masked_fill(diffs.logical_not(), negativeIgnore);
    auto [positiveSorted, positiveOrder] = positiveSorting.sort(1);
    auto [negativeSorted, negativeOrder] = negativeSorting.sort(1);
    auto last = positiveSorted.size(1) - 1;
    torch::Tensor hardPositive, hardNegative;
    if (inverted) {
      hardPositive = (positiveSorted - epsilon_ < negativeSorted.select(1, last).unsqueeze(1)).nonzero();
      hardNegative = (negativeSorted + epsilon_ > positiveSorted.select(1, 0).unsqueeze(1)).nonzero();
    } else {
      hardPositive = (positiveSorted + epsilon_ > negativeSorted.select(1, 0).unsqueeze(1)).nonzero();
      hardNegative = (negativeSorted - epsilon_ < positiveSorted.select(1, last).unsqueeze(1)).nonzero();
    }
    auto a1 = hardPositive.select(1, 0);
    auto a2 = hardNegative.select(1, 0);
    return {{a1, positiveOrder.index({a1, hardPositive.select(1, 1)}), a2, negativeOrder.index({a2, hardNegative.select(1, 1)})}};
  }

 private:
  double epsilon_;
  MetricDistance distance_;
};

const MinerRegistration kRegistration("MultiSimilarityMiner",
                                      [](const LossOptions& options) { return std::make_unique<MultiSimilarityMiner>(options); });

}  // namespace
}  // namespace finetuner

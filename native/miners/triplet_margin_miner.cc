// TripletMarginMiner (pytorch-metric-learning): of all the batch's triplets, those whose margin
// d(a,n) - d(a,p) (similarities: s(a,p) - s(a,n)) is within minerMargin: "all"; of those, "hard" (the
// negative no farther than the positive) or "semihard" (farther); "easy": the triplets beyond the margin.
// Options: minerMargin (0.2), minerType (all), minerDistance (l2).
#include "losses/metric_distance.h"
#include "miner_registry.h"

namespace finetuner {
namespace {

class TripletMarginMiner : public Miner {
 public:
  explicit TripletMarginMiner(const LossOptions& options)
      : margin_(options.number("minerMargin", 0.2)),
        type_(options.string("minerType", "all")),
        distance_(MetricDistance::fromOptions(options, "minerDistance", "l2")) {
    TORCH_CHECK(type_ == "all" || type_ == "hard" || type_ == "semihard" || type_ == "easy",
                "TripletMarginMiner: minerType must be all, hard, semihard or easy, got '", type_, "'");
  }

  IndicesTuple mine(const torch::Tensor& embeddings, const torch::Tensor& labels) const override {
    auto triplets = allTriplets(labels, embeddings.device());
    const auto& a = triplets.parts[0];
    const auto& p = triplets.parts[1];
    const auto& n = triplets.parts[2];
    auto mat = distance_.matrix(embeddings);
    auto ap = mat.index({a, p});
    auto an = mat.index({a, n});
    auto tripletMargin = distance_.inverted() ? ap - an : an - ap;
    torch::Tensor keep;
    if (type_ == "easy") {
      keep = tripletMargin > margin_;
    } else {
      keep = tripletMargin <= margin_;
      if (type_ == "hard") keep = keep.logical_and(tripletMargin <= 0);
      if (type_ == "semihard") keep = keep.logical_and(tripletMargin > 0);
    }
    return {{a.masked_select(keep), p.masked_select(keep), n.masked_select(keep)}};
  }

 private:
  double margin_;
  std::string type_;
  MetricDistance distance_;
};

const MinerRegistration kRegistration("TripletMarginMiner",
                                      [](const LossOptions& options) { return std::make_unique<TripletMarginMiner>(options); });

}  // namespace
}  // namespace finetuner

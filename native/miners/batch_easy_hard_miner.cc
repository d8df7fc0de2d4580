// BatchEasyHardMiner (pytorch-metric-learning; Xuan et al. 2020): per anchor a positive and a negative
// by strategy, as pairs (a1, p, a2, n). Options: minerPosStrategy (easy), minerNegStrategy (semihard),
// minerDistance (l2).
#include "batch_easy_hard.h"
#include "miner_registry.h"

namespace finetuner {
namespace {

class BatchEasyHardMiner : public Miner {
 public:
  explicit BatchEasyHardMiner(const LossOptions& options)
      : mining_(options.string("minerPosStrategy", "easy"), options.string("minerNegStrategy", "semihard"),
                MetricDistance::fromOptions(options, "minerDistance", "l2")) {}

  IndicesTuple mine(const torch::Tensor& embeddings, const torch::Tensor& labels) const override {
    return mining_.mine(embeddings, labels);
  }

 private:
  BatchEasyHardMining mining_;
};

const MinerRegistration kRegistration("BatchEasyHardMiner",
                                      [](const LossOptions& options) { return std::make_unique<BatchEasyHardMiner>(options); });

}  // namespace
}  // namespace finetuner

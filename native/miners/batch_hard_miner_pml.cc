// BatchHardMiner (pytorch-metric-learning; Hermans et al. 2017): per anchor the hardest positive and the
// hardest negative, as triplets, on PML's distances (the "batch-hard" miner, batch_hard_miner.cc, is
// the original finetuner's, on raw L2 distances). Option: minerDistance (l2).
#include "batch_easy_hard.h"
#include "miner_registry.h"

namespace finetuner {
namespace {

class BatchHardMiner : public Miner {
 public:
  explicit BatchHardMiner(const LossOptions& options)
      : mining_("hard", "hard", MetricDistance::fromOptions(options, "minerDistance", "l2")) {}

  IndicesTuple mine(const torch::Tensor& embeddings, const torch::Tensor& labels) const override {
    auto pairs = mining_.mine(embeddings, labels);
    return {{pairs.parts[0], pairs.parts[1], pairs.parts[3]}};
  }

 private:
  BatchEasyHardMining mining_;
};

const MinerRegistration kRegistration("BatchHardMiner",
                                      [](const LossOptions& options) { return std::make_unique<BatchHardMiner>(options); });

}  // namespace
}  // namespace finetuner

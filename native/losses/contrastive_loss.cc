// ContrastiveLoss (pytorch-metric-learning; Hadsell et al. 2006): positive pairs pay relu(d - posMargin),
// negative pairs relu(negMargin - d) (the reverse for cosine similarity), each averaged over its
// non-zero pairs (AvgNonZeroReducer), summed. Options: posMargin (0), negMargin (1), distance (l2),
// miner (none).
#include "loss_registry.h"
#include "metric_loss.h"

namespace finetuner {
namespace {

class ContrastiveLoss : public MetricLoss {
 public:
  explicit ContrastiveLoss(const LossOptions& options)
      : MetricLoss("ContrastiveLoss", options, "l2"),
        posMargin_(options.number("posMargin", 0.0)),
        negMargin_(options.number("negMargin", 1.0)) {}

 protected:
  LossValue formula(const torch::Tensor& embeddings, const torch::Tensor& labels, const IndicesTuple& mined) override {
    auto pairs = toPairs(mined, labels, embeddings.device());
    LossValue value;
    value.examples = pairs.size();
    if (tooFewPairs(pairs)) {
      value.loss = zeroLoss(embeddings);
      return value;
    }
    auto mat = distance_.matrix(embeddings);
    auto positive = torch::relu(distance_.margin(mat.index({pairs.parts[0], pairs.parts[1]}), posMargin_));
    auto negative = torch::relu(distance_.margin(negMargin_, mat.index({pairs.parts[2], pairs.parts[3]})));
    value.loss = avgNonZeroReduce(positive, embeddings) + avgNonZeroReduce(negative, embeddings);
    return value;
  }

 private:
  double posMargin_;
  double negMargin_;
};

const LossRegistration kRegistration("ContrastiveLoss", [](const LossOptions& options, const LossContext&) {
  return std::make_unique<ContrastiveLoss>(options);
});

}  // namespace
}  // namespace finetuner

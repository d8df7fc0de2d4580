// ProxyAnchorLoss (pytorch-metric-learning; Kim et al. 2020): one learned proxy per class; per proxy,
// log(1 + sum over its class's rows of exp(-alpha (s - margin))) averaged over the proxies with rows in
// the batch, plus log(1 + sum over other rows of exp(alpha (s + margin))) averaged over all proxies
// (DivisorReducer). Options: numClasses (required), margin (0.1), alpha (32), lossLearningRate (0.01),
// distance (cosine), miner.
#include "class_weights.h"
#include "loss_registry.h"

#include <cmath>

namespace finetuner {
namespace {

class ProxyAnchorLoss : public MetricLoss {
 public:
  ProxyAnchorLoss(const LossOptions& options, const LossContext& context)
      : MetricLoss("ProxyAnchorLoss", options, "cosine"),
        classes_(options, "ProxyAnchorLoss"),
        margin_(options.number("margin", 0.1)),
        alpha_(options.number("alpha", 32.0)) {
    TORCH_CHECK(context.outputDim > 0, "ProxyAnchorLoss needs the embedding width");
    // PML: kaiming_normal_(mode="fan_out") on numClasses x width, std sqrt(2 / numClasses).
    proxies_ = seededNormal({classes_.numClasses, context.outputDim}, std::sqrt(2.0 / classes_.numClasses), context.device);
  }

  std::vector<std::pair<std::string, torch::Tensor>> parameters() override { return {{"proxies", proxies_}}; }
  double learningRate() const override { return classes_.learningRate; }

 protected:
  LossValue formula(const torch::Tensor& embeddings, const torch::Tensor& labels, const IndicesTuple& mined) override {
    requireClassLabels(labels, classes_.numClasses, "ProxyAnchorLoss");
    TORCH_CHECK(embeddings.size(1) == proxies_.size(1), "ProxyAnchorLoss: embeddings are ", embeddings.size(1), "-dim, its proxies ", proxies_.size(1));
    auto proxies = asBatchType(proxies_, embeddings);
    auto rowsOf = [](const torch::Tensor& x) { return x / x.norm(2, {1}, true).clamp_min(1e-12); };
    // PML's distance(embeddings, proxies): N x classes.
    auto mat = distance_.inverted() ? torch::matmul(rowsOf(embeddings), rowsOf(proxies).t()) : torch::cdist(rowsOf(embeddings), rowsOf(proxies), 2);
    auto minerShift = (minerWeights(mined, embeddings.size(0), mat) - 1).unsqueeze(1);
    auto positive = torch::zeros_like(mat, torch::TensorOptions().dtype(torch::kBool)).scatter_(1, labels.unsqueeze(1), true);
    auto negative = positive.logical_not();
    auto withRows = positive.any(0).sum().item<int64_t>();
    // Over the rows of each proxy (dim 0): transposed into maskedLogSumExp's dim 1.
    auto positiveTerm = maskedLogSumExp((alpha_ * distance_.margin(mat, margin_) + minerShift).t(), positive.t(), true);
    auto negativeTerm = maskedLogSumExp((alpha_ * distance_.margin(-margin_, mat) + minerShift).t(), negative.t(), true);
    LossValue value;
    value.examples = embeddings.size(0);
    auto positiveLoss = withRows > 0 ? positiveTerm.sum() / static_cast<double>(withRows) : zeroLoss(embeddings);
    value.loss = positiveLoss + negativeTerm.sum() / static_cast<double>(classes_.numClasses);
    return value;
  }

 private:
  ClassWeightOptions classes_;
  double margin_;
  double alpha_;
  torch::Tensor proxies_;
};

const LossRegistration kRegistration("ProxyAnchorLoss", [](const LossOptions& options, const LossContext& context) {
  return std::make_unique<ProxyAnchorLoss>(options, context);
});

}  // namespace
}  // namespace finetuner

// What ArcFaceLoss and CosFaceLoss share (PML's LargeMarginSoftmaxLoss): class weights W (embedding
// width x numClasses), logits = scale * (cosine to each class, with the target class's cosine modified by
// the subclass), cross-entropy per row weighted by the miner, averaged (MeanReducer).
#pragma once

#include "class_weights.h"

namespace finetuner {

class LargeMarginSoftmax : public MetricLoss {
 public:
  LargeMarginSoftmax(const char* name, const LossOptions& options, const LossContext& context, double scale)
      : MetricLoss(name, options, "cosine"), classes_(options, name), scale_(options.number("scale", scale)) {
    TORCH_CHECK(distance_.inverted(), name, " works on cosine similarity only");
    TORCH_CHECK(context.outputDim > 0, name, " needs the embedding width");
    weights_ = seededNormal({context.outputDim, classes_.numClasses}, 1.0, context.device);  // PML: normal_
  }

  std::vector<std::pair<std::string, torch::Tensor>> parameters() override { return {{"W", weights_}}; }
  double learningRate() const override { return classes_.learningRate; }

 protected:
  // The target class's logit before scaling, from its cosine.
  virtual torch::Tensor modifyTargetCosine(const torch::Tensor& cosine) const = 0;

  LossValue formula(const torch::Tensor& embeddings, const torch::Tensor& labels, const IndicesTuple& mined) override {
    requireClassLabels(labels, classes_.numClasses, name_);
    TORCH_CHECK(embeddings.size(1) == weights_.size(0), name_, ": embeddings are ", embeddings.size(1), "-dim, its weights ", weights_.size(0));
    auto weights = asBatchType(weights_, embeddings);
    auto unitRowsOf = [](const torch::Tensor& x) { return x / x.norm(2, {1}, true).clamp_min(1e-12); };
    auto cosine = torch::matmul(unitRowsOf(embeddings), unitRowsOf(weights.t()).t());  // N x classes
    auto mask = torch::zeros_like(cosine).scatter_(1, labels.unsqueeze(1), 1.0);
    auto target = cosine.gather(1, labels.unsqueeze(1)).squeeze(1);
    auto difference = (modifyTargetCosine(target) - target).unsqueeze(1);
    auto logits = (cosine + mask * difference) * scale_;
    auto perRow = torch::nn::functional::cross_entropy(logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    LossValue value;
    value.examples = embeddings.size(0);
    value.loss = meanReduce(perRow * minerWeights(mined, embeddings.size(0), perRow), embeddings);
    return value;
  }

  ClassWeightOptions classes_;
  double scale_;
  torch::Tensor weights_;
};

}  // namespace finetuner

// Shared by the losses that hold a weight per class (ArcFaceLoss, CosFaceLoss, ProxyAnchorLoss): the
// options numClasses (required: labels are 0 .. numClasses - 1) and lossLearningRate (0.01: these
// weights start random and need a faster rate than the pretrained model), the weights' initialisation
// (seeded, so a run is reproducible), PML's miner weights (lmu.convert_to_weights) and the label check.
#pragma once

#include "metric_loss.h"

#include <ATen/CPUGeneratorImpl.h>

namespace finetuner {

struct ClassWeightOptions {
  int64_t numClasses;
  double learningRate;

  ClassWeightOptions(const LossOptions& options, const char* loss)
      : numClasses(static_cast<int64_t>(options.number("numClasses", 0))), learningRate(options.number("lossLearningRate", 0.01)) {
    TORCH_CHECK(numClasses >= 2, loss, " needs numClasses (the number of labels, at least 2)");
    TORCH_CHECK(learningRate > 0, loss, ": lossLearningRate must be positive, got ", learningRate);
  }
};

// A standard normal draw of `sizes` scaled by `std`, from a generator of its own (seed 0).
inline torch::Tensor seededNormal(at::IntArrayRef sizes, double std, torch::Device device) {
  auto generator = at::detail::createCPUGenerator(0);
  auto weights = at::normal(0.0, std, sizes, generator, torch::TensorOptions().dtype(torch::kFloat32));
  return weights.to(device).set_requires_grad(true);
}

inline void requireClassLabels(const torch::Tensor& labels, int64_t numClasses, const char* loss) {
  if (labels.numel() == 0) return;
  TORCH_CHECK(labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < numClasses, loss,
              ": labels must be in 0 .. numClasses - 1 (", numClasses - 1, ")");
}

// PML's convert_to_weights: per row, how often the mined tuples name it, over the largest count; all
// ones without a miner (or with nothing mined).
inline torch::Tensor minerWeights(const IndicesTuple& mined, int64_t rows, const torch::Tensor& like) {
  auto weights = torch::zeros({rows}, like.options());
  if (mined.size() == 0) return weights + 1;
  auto indices = torch::cat(mined.parts);
  auto counts = torch::bincount(indices, {}, rows).to(like.scalar_type());
  return counts / counts.max();
}

// The weights in the batch's dtype (computeLoss may run in float64); gradients reach the parameter.
inline torch::Tensor asBatchType(const torch::Tensor& weights, const torch::Tensor& embeddings) {
  return weights.to(embeddings.device(), embeddings.scalar_type());
}

}  // namespace finetuner

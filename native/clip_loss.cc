#include "clip_loss.h"

#include <limits>

namespace finetuner {

torch::Tensor clipContrastiveLoss(const torch::Tensor& texts, const torch::Tensor& images,
                                  const torch::Tensor& logitScale, const torch::Tensor& groups) {
  const auto n = texts.size(0);
  TORCH_CHECK(images.size(0) == n, "one image per text is needed (got ", n, " texts and ", images.size(0),
              " images)");
  TORCH_CHECK(groups.size(0) == n, "one group id per pair is needed");
  TORCH_CHECK(n >= 2, "the contrastive loss needs at least 2 pairs in a batch (in-batch negatives)");
  auto logits = logitScale.exp() * torch::matmul(images.to(torch::kFloat32), texts.to(torch::kFloat32).t());
  auto groupsOnDevice = groups.to(logits.device());
  auto sameGroup = groupsOnDevice.unsqueeze(1).eq(groupsOnDevice.unsqueeze(0));
  auto eye = torch::eye(n, torch::TensorOptions().dtype(torch::kBool).device(logits.device()));
  // Symmetric in i and j, so the same mask serves both directions.
  auto excluded = sameGroup.logical_and(eye.logical_not());
  logits = logits.masked_fill(excluded, -std::numeric_limits<float>::infinity());
  auto targets = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(logits.device()));
  auto imageToText = torch::nn::functional::cross_entropy(logits, targets);
  auto textToImage = torch::nn::functional::cross_entropy(logits.t(), targets);
  return (imageToText + textToImage) / 2;
}

}  // namespace finetuner

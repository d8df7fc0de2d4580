// Distances and normalisation shared by the losses and miners (float32, differentiable).
#pragma once

#include <torch/torch.h>

namespace finetuner {

// Euclidean distances between rows, N x N, with a clamp before the square root: the gradient of sqrt at
// the zero diagonal would otherwise be infinite and poison the whole batch with NaNs.
inline torch::Tensor pairwiseL2Distances(const torch::Tensor& x) {
  auto squaredNorms = (x * x).sum(1);
  auto squared = squaredNorms.unsqueeze(1) + squaredNorms.unsqueeze(0) - 2.0 * torch::matmul(x, x.t());
  return squared.clamp_min(1e-12).sqrt();
}

inline torch::Tensor unitRows(const torch::Tensor& x) {
  return x / x.norm(2, {1}, true).clamp_min(1e-12);
}

// N x N: row i and column j share a label (or group id).
inline torch::Tensor sameLabel(const torch::Tensor& labels, torch::Device device) {
  auto onDevice = labels.to(device);
  return onDevice.unsqueeze(1).eq(onDevice.unsqueeze(0));
}

inline torch::Tensor identityMask(int64_t n, torch::Device device) {
  return torch::eye(n, torch::TensorOptions().dtype(torch::kBool).device(device));
}

}  // namespace finetuner

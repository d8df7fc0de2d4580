// Gradient clipping by total norm, as torch.nn.utils.clip_grad_norm_ does it (L2 norm over every
// defined gradient; gradients scaled by maxNorm / (norm + 1e-6) when that is below 1).
#pragma once

#include <torch/torch.h>

#include <vector>

namespace finetuner {

// Returns the total norm before clipping; maxNorm 0 only measures it.
inline double clipGradientNorm(const std::vector<torch::Tensor>& parameters, double maxNorm) {
  std::vector<torch::Tensor> norms;
  for (const auto& parameter : parameters) {
    if (parameter.grad().defined()) norms.push_back(parameter.grad().detach().norm(2).to(torch::kFloat32));
  }
  if (norms.empty()) return 0.0;
  auto total = torch::stack(norms).norm(2);
  double norm = total.item<double>();
  if (maxNorm > 0 && std::isfinite(norm)) {
    double coefficient = maxNorm / (norm + 1e-6);
    if (coefficient < 1) {
      torch::NoGradGuard noGrad;
      for (const auto& parameter : parameters) {
        if (parameter.grad().defined()) parameter.grad().mul_(coefficient);
      }
    }
  }
  return norm;
}

}  // namespace finetuner

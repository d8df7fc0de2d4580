// Which pairs of a labelled batch are positives (same label, not the same row) and negatives.
#pragma once

#include "losses/distances.h"

#include <torch/torch.h>

namespace finetuner {

struct LabelMasks {
  torch::Tensor positive;  // N x N bool
  torch::Tensor negative;  // N x N bool

  LabelMasks(const torch::Tensor& labels, torch::Device device) {
    TORCH_CHECK(labels.dim() == 1, "one label per row is needed");
    auto same = sameLabel(labels, device);
    positive = same.logical_and(identityMask(labels.size(0), device).logical_not());
    negative = same.logical_not();
  }
};

}  // namespace finetuner

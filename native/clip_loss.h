// CLIP's contrastive loss (Radford et al. 2021; open_clip's ClipLoss): symmetric cross-entropy over the
// in-batch text-image similarity matrix, scaled by the learned temperature exp(logit_scale).
#pragma once

#include <torch/torch.h>

namespace finetuner {

// Largest temperature CLIP allows: logit_scale is clamped to [0, ln 100] after every step, as OpenAI
// and open_clip do, so the logits cannot grow without bound.
constexpr double kMaxLogitScale = 4.605170185988092;  // ln(100)

// texts, images: N x D, row i of each is a matching pair (already L2-normalised). logitScale: 0-d,
// requires grad (the temperature is learned). groups: N ids; rows of the same group (the same caption
// on several images) match each other too, so they are left out of each other's softmax instead of
// being pushed apart as negatives.
torch::Tensor clipContrastiveLoss(const torch::Tensor& texts, const torch::Tensor& images,
                                  const torch::Tensor& logitScale, const torch::Tensor& groups);

}  // namespace finetuner

// Maps the optimizer options that cross from JS onto LibTorch's optimizers.
#pragma once

#include "embedding_core.h"

#include <torch/torch.h>

#include <memory>
#include <vector>

namespace finetuner {

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const TrainingOptions& options,
                                                       std::vector<torch::Tensor> parameters);

}  // namespace finetuner

#include "optimizer_factory.h"

#include <cmath>

namespace finetuner {

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const TrainingOptions& options,
                                                       std::vector<torch::Tensor> parameters) {
  // Non-finite values pass the sign checks (Infinity > 0) and turn every weight into NaN at the first step.
  TORCH_CHECK(std::isfinite(options.learningRate) && options.learningRate > 0,
              "learningRate must be a finite positive number, got ", options.learningRate);
  TORCH_CHECK(std::isfinite(options.weightDecay) && options.weightDecay >= 0,
              "weightDecay must be a finite number >= 0, got ", options.weightDecay);
  TORCH_CHECK(std::isfinite(options.momentum) && options.momentum >= 0 && options.momentum < 1,
              "momentum must be in [0, 1), got ", options.momentum);
  if (options.optimizer == "adam") {
    return std::make_unique<torch::optim::Adam>(
        parameters, torch::optim::AdamOptions(options.learningRate).weight_decay(options.weightDecay));
  }
  if (options.optimizer == "adamw") {
    return std::make_unique<torch::optim::AdamW>(
        parameters, torch::optim::AdamWOptions(options.learningRate).weight_decay(options.weightDecay));
  }
  if (options.optimizer == "sgd") {
    return std::make_unique<torch::optim::SGD>(parameters, torch::optim::SGDOptions(options.learningRate)
                                                               .momentum(options.momentum)
                                                               .weight_decay(options.weightDecay));
  }
  TORCH_CHECK(false, "unknown optimizer '", options.optimizer, "': use adam, adamw or sgd");
}

}  // namespace finetuner

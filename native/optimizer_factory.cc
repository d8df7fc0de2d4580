#include "optimizer_factory.h"

namespace finetuner {

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const TrainingOptions& options,
                                                       std::vector<torch::Tensor> parameters) {
  TORCH_CHECK(options.learningRate > 0, "learningRate must be positive, got ", options.learningRate);
  TORCH_CHECK(options.weightDecay >= 0, "weightDecay must not be negative, got ", options.weightDecay);
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

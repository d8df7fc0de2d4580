// The optimizers by name (a registry, like the losses'): each maps the options that cross from JS and the
// model's parameter groups onto one of LibTorch's optimizers. The TypeScript list (lib/optimizers.ts)
// must name the same ones; runtimeInfo().optimizers lists these and test/optimizers.test.ts compares.
#pragma once

#include "named_registry.h"
#include "parameter_groups.h"

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace finetuner {

// What an optimizer takes beyond its parameter groups (each group brings its weight decay and its
// learning-rate scale). An option an optimizer does not use is ignored.
struct OptimizerSettings {
  std::string name = "adam";
  double learningRate = 1e-4;
  double momentum = 0.0;      // sgd, rmsprop
  // adam, adamw, rmsprop, adagrad; unset: the optimizer's default (1e-8; adagrad 1e-10).
  std::optional<double> epsilon;
  double rmspropAlpha = 0.99;  // rmsprop: smoothing constant of the squared-gradient average
};

using OptimizerFactory =
    std::function<std::unique_ptr<torch::optim::Optimizer>(const OptimizerSettings&, const std::vector<ParameterGroup>&)>;

const NamedRegistry<OptimizerFactory>& optimizerRegistry();

// Refuses an unknown name and non-finite or out-of-range numbers, naming the option.
void checkOptimizerSettings(const OptimizerSettings& settings);

// Checks the settings and builds `settings.name` over `groups`, group i at learningRate x
// groups[i].learningRateScale with groups[i].weightDecay.
std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const OptimizerSettings& settings,
                                                       const std::vector<ParameterGroup>& groups);

// The weight decay of a parameter group built by one of these optimizers.
double weightDecayOf(const torch::optim::OptimizerOptions& options);

}  // namespace finetuner

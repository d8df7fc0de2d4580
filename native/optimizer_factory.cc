#include "optimizer_factory.h"

#include <cmath>

namespace finetuner {
namespace {

// One LibTorch parameter group per group, each with its own copy of the optimizer's options at its
// learning rate and weight decay; `defaults` keep LibTorch's (= PyTorch 1.13's) values for the rest.
template <typename Optimizer, typename Options>
std::unique_ptr<torch::optim::Optimizer> build(const OptimizerSettings& settings, const std::vector<ParameterGroup>& groups,
                                               Options defaults) {
  defaults.lr(settings.learningRate);
  std::vector<torch::optim::OptimizerParamGroup> built;
  for (const auto& group : groups) {
    auto options = std::make_unique<Options>(defaults);
    options->lr(settings.learningRate * group.learningRateScale).weight_decay(group.weightDecay);
    built.emplace_back(group.parameters, std::move(options));
  }
  return std::make_unique<Optimizer>(std::move(built), defaults);
}

NamedRegistry<OptimizerFactory> makeRegistry() {
  NamedRegistry<OptimizerFactory> registry("optimizer");
  registry.add("adam", [](const OptimizerSettings& s, const std::vector<ParameterGroup>& groups) {
    return build<torch::optim::Adam>(s, groups, torch::optim::AdamOptions().eps(s.epsilon.value_or(1e-8)));
  });
  registry.add("adamw", [](const OptimizerSettings& s, const std::vector<ParameterGroup>& groups) {
    return build<torch::optim::AdamW>(s, groups, torch::optim::AdamWOptions().eps(s.epsilon.value_or(1e-8)));
  });
  registry.add("sgd", [](const OptimizerSettings& s, const std::vector<ParameterGroup>& groups) {
    return build<torch::optim::SGD>(s, groups, torch::optim::SGDOptions(s.learningRate).momentum(s.momentum));
  });
  registry.add("rmsprop", [](const OptimizerSettings& s, const std::vector<ParameterGroup>& groups) {
    return build<torch::optim::RMSprop>(
        s, groups, torch::optim::RMSpropOptions().alpha(s.rmspropAlpha).eps(s.epsilon.value_or(1e-8)).momentum(s.momentum));
  });
  registry.add("adagrad", [](const OptimizerSettings& s, const std::vector<ParameterGroup>& groups) {
    return build<torch::optim::Adagrad>(s, groups, torch::optim::AdagradOptions().eps(s.epsilon.value_or(1e-10)));
  });
  return registry;
}

}  // namespace

const NamedRegistry<OptimizerFactory>& optimizerRegistry() {
  static const NamedRegistry<OptimizerFactory> registry = makeRegistry();
  return registry;
}

void checkOptimizerSettings(const OptimizerSettings& settings) {
  optimizerRegistry().get(settings.name);  // an unknown name lists the known ones
  // Non-finite values pass the sign checks (Infinity > 0) and turn every weight into NaN at the first step.
  TORCH_CHECK(std::isfinite(settings.learningRate) && settings.learningRate > 0,
              "learningRate must be a finite positive number, got ", settings.learningRate);
  TORCH_CHECK(std::isfinite(settings.momentum) && settings.momentum >= 0 && settings.momentum < 1,
              "momentum must be in [0, 1), got ", settings.momentum);
  TORCH_CHECK(!settings.epsilon || (std::isfinite(*settings.epsilon) && *settings.epsilon > 0),
              "epsilon must be a finite positive number, got ", settings.epsilon.value_or(0));
  TORCH_CHECK(std::isfinite(settings.rmspropAlpha) && settings.rmspropAlpha >= 0 && settings.rmspropAlpha < 1,
              "rmspropAlpha must be in [0, 1), got ", settings.rmspropAlpha);
}

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const OptimizerSettings& settings,
                                                       const std::vector<ParameterGroup>& groups) {
  checkOptimizerSettings(settings);
  for (const auto& group : groups) {
    TORCH_CHECK(std::isfinite(group.weightDecay) && group.weightDecay >= 0,
                "weightDecay must be a finite number >= 0, got ", group.weightDecay);
    TORCH_CHECK(std::isfinite(group.learningRateScale) && group.learningRateScale > 0,
                "a parameter group's learning-rate scale must be a finite positive number, got ", group.learningRateScale);
  }
  return optimizerRegistry().get(settings.name)(settings, groups);
}

double weightDecayOf(const torch::optim::OptimizerOptions& options) {
  if (auto* adam = dynamic_cast<const torch::optim::AdamOptions*>(&options)) return adam->weight_decay();
  if (auto* adamw = dynamic_cast<const torch::optim::AdamWOptions*>(&options)) return adamw->weight_decay();
  if (auto* sgd = dynamic_cast<const torch::optim::SGDOptions*>(&options)) return sgd->weight_decay();
  if (auto* rmsprop = dynamic_cast<const torch::optim::RMSpropOptions*>(&options)) return rmsprop->weight_decay();
  if (auto* adagrad = dynamic_cast<const torch::optim::AdagradOptions*>(&options)) return adagrad->weight_decay();
  TORCH_CHECK(false, "a parameter group of an optimizer this registry did not build");
}

}  // namespace finetuner

#include "parameter_groups.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace finetuner {
namespace {

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

}  // namespace

bool isBiasOrNorm(const std::string& name, const torch::Tensor& parameter) {
  if (parameter.dim() < 2) return true;
  auto lower = lowercase(name);
  return lower.find("bias") != std::string::npos || lower.find("norm") != std::string::npos;
}

std::vector<ParameterGroup> groupParameters(const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
                                            const GroupingRules& rules) {
  TORCH_CHECK(std::isfinite(rules.layerDecay) && rules.layerDecay > 0 && rules.layerDecay <= 1,
              "layerDecay must be in (0, 1], got ", rules.layerDecay);
  TORCH_CHECK(std::isfinite(rules.weightDecay) && rules.weightDecay >= 0, "weightDecay must be a finite number >= 0, got ",
              rules.weightDecay);
  std::vector<ParameterGroup> groups;
  for (const auto& [name, parameter] : trainable) {
    bool decays = rules.weightDecay > 0 && (rules.decayBiasesAndNorms || !isBiasOrNorm(name, parameter));
    double weightDecay = decays ? rules.weightDecay : 0.0;
    double scale = 1.0;
    if (rules.layerDecay < 1) {
      int64_t depth = rules.depthOf(name);
      TORCH_CHECK(depth >= 0 && depth <= rules.numLayers + 1, "parameter ", name, " has layer depth ", depth,
                  " outside 0..", rules.numLayers + 1);
      scale = std::pow(rules.layerDecay, static_cast<double>(rules.numLayers + 1 - depth));
    }
    auto group = std::find_if(groups.begin(), groups.end(), [&](const ParameterGroup& g) {
      return g.weightDecay == weightDecay && g.learningRateScale == scale;
    });
    if (group == groups.end()) {
      groups.push_back(ParameterGroup{{}, {}, weightDecay, scale});
      group = groups.end() - 1;
    }
    group->parameters.push_back(parameter);
    group->names.push_back(name);
  }
  return groups;
}

}  // namespace finetuner

// How the trainable parameters split into the optimizer's parameter groups: weight decay only where it
// belongs, and layer-wise learning-rate decay for transformers. Each group has a learning-rate scale;
// EmbeddingCore sets group i to (scheduled rate) x scale at every step.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace finetuner {

struct ParameterGroup {
  std::vector<torch::Tensor> parameters;
  std::vector<std::string> names;  // the parameters' names, for parameterGroups() and error messages
  double weightDecay = 0.0;
  double learningRateScale = 1.0;
};

struct GroupingRules {
  double weightDecay = 0.0;
  // false (the default): biases and normalisation weights get no weight decay.
  bool decayBiasesAndNorms = false;
  // In (0, 1]; 1 is off. A parameter at depth d gets layerDecay^(numLayers + 1 - d), see depthOf.
  double layerDecay = 1.0;
  int64_t numLayers = 0;
  // 0: the embeddings under the first layer; i + 1: layer i; numLayers + 1: above the layers (pooling,
  // projection). Only called when layerDecay < 1.
  std::function<int64_t(const std::string&)> depthOf;
};

// Why a parameter escapes weight decay, as Hugging Face's Trainer and sentence-transformers decide it:
// fewer than 2 dimensions (biases, LayerNorm and BatchNorm weights, GeM's p, CLIP's temperature), or a
// name that says bias or norm (LayerNorm, layer_norm, ln_*: any case).
bool isBiasOrNorm(const std::string& name, const torch::Tensor& parameter);

// Groups in the order of their first parameter; parameters keep the module's order inside a group.
std::vector<ParameterGroup> groupParameters(const std::vector<std::pair<std::string, torch::Tensor>>& trainable,
                                            const GroupingRules& rules);

}  // namespace finetuner

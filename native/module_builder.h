// Builds the embedding module (trunk -> pooling -> optional projection -> optional L2 norm) around an
// exported backbone, as a TorchScript module compiled here in C++. Training, encoding and saving all use
// this one module, so what a Python user loads with torch.jit.load is exactly what Node trained.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <string>
#include <vector>

namespace finetuner {

enum class Pooling { Average, Max, GeM };

Pooling parsePooling(const std::string& name);

struct EmbeddingModuleSpec {
  std::vector<std::string> trunk;  // direct children of the backbone, run in order
  Pooling pooling = Pooling::Average;
  double gemP = 3.0;
  int64_t embeddingDim = 0;  // channels of the trunk's feature map
  int64_t outputDim = 0;     // 0: no projection head
  bool normalize = true;
  std::vector<double> mean;  // per RGB channel, applied to pixels scaled to [0, 1]
  std::vector<double> std;
  uint64_t seed = 0;
};

// The backbone keeps its head; only the trunk children are copied into the new module, so the saved
// model and the optimizer never see the classification head.
torch::jit::Module buildEmbeddingModule(const torch::jit::Module& backbone, const EmbeddingModuleSpec& spec);

// Names of the methods every embedding module has; checked when loading a saved model.
constexpr const char* kEncodePixelsMethod = "encode_pixels";
constexpr const char* kOutputDimAttribute = "output_dim";

}  // namespace finetuner

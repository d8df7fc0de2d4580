// Builds the embedding module around an exported backbone, as a TorchScript module compiled here in C++.
// Each modality builds its own layout (native/modalities/): images, text, and CLIP's two towers. This
// file holds what they share: the spec, the projection head and L2 norm, pixel normalisation, and the
// names every module has. Training, encoding and saving all use this one module, so what a Python user
// loads with torch.jit.load is exactly what Node trained.
#pragma once

#include "modalities/modality.h"

#include <torch/script.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace finetuner {

enum class Pooling { Average, Max, GeM, Cls };

struct EmbeddingModuleSpec {
  Modality modality = Modality::Image;
  std::vector<std::string> trunk;  // images: direct children of the backbone, run in order
  Pooling pooling = Pooling::Average;
  double gemP = 3.0;
  int64_t embeddingDim = 0;  // channels of the trunk's feature map / hidden size of the token states
  int64_t outputDim = 0;     // 0: no projection head
  bool normalize = true;
  std::vector<double> mean;  // images: per RGB channel, applied to pixels scaled to [0, 1]
  std::vector<double> std;
  uint64_t seed = 0;
};

// The module of spec.modality around `backbone` (which is only read: its children are shared).
torch::jit::Module buildEmbeddingModule(const torch::jit::Module& backbone, const EmbeddingModuleSpec& spec);

// Shared pieces, for the modalities' build methods.
// Projection (seeded like torch.nn.Linear) and normalisation at the end of `forward`, then the
// output_dim attribute; defines `forward` on `module`.
void appendProjectionHead(torch::jit::Module& module, const EmbeddingModuleSpec& spec, std::ostringstream& forward);
// pixel_mean and pixel_std buffers (1 x 3 x 1 x 1) for encode_pixels.
void registerPixelNormalisation(torch::jit::Module& module, const EmbeddingModuleSpec& spec);

// Methods and attributes every embedding module has; checked when loading a saved model.
constexpr const char* kEncodePixelsMethod = "encode_pixels";  // uint8 N x H x W x 3 -> N x D
constexpr const char* kEncodeTokensMethod = "encode_tokens";  // ids, mask, token types -> N x D
constexpr const char* kOutputDimAttribute = "output_dim";

}  // namespace finetuner

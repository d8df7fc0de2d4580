// Builds the embedding module around an exported backbone, as a TorchScript module compiled here in C++:
//   images: trunk (the backbone's children up to the head) -> pooling over H x W
//   text:   the transformer's token states -> pooling over the attention mask
// then an optional projection and an optional L2 norm;
//   text-image (CLIP): the exported CLIP kept whole as `clip`, its encode_image / encode_text
// L2-normalised into the shared space. Training, encoding and saving all use this one
// module, so what a Python user loads with torch.jit.load is exactly what Node trained.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <string>
#include <vector>

namespace finetuner {

enum class Modality { Image, Text, TextImage };
enum class Pooling { Average, Max, GeM, Cls };

Modality parseModality(const std::string& name);
const char* modalityName(Modality modality);
Pooling parsePooling(const std::string& name, Modality modality);

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

// Images: the backbone keeps its head; only the trunk children are copied into the new module, so the
// saved model and the optimizer never see the classification head. Text: the whole backbone is the
// trunk (its forward returns token states).
torch::jit::Module buildEmbeddingModule(const torch::jit::Module& backbone, const EmbeddingModuleSpec& spec);

// Methods and attributes every embedding module has; checked when loading a saved model.
constexpr const char* kEncodePixelsMethod = "encode_pixels";  // uint8 N x H x W x 3 -> N x D
constexpr const char* kEncodeTokensMethod = "encode_tokens";  // ids, mask, token types -> N x D
constexpr const char* kOutputDimAttribute = "output_dim";
// CLIP modules: the exported model is the `clip` child; its learned temperature is clip.logit_scale.
constexpr const char* kClipChild = "clip";
constexpr const char* kClipImageTower = "visual";

}  // namespace finetuner

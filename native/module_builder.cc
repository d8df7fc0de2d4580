#include "module_builder.h"

#include <c10/util/Exception.h>

#include <cctype>
#include <cmath>
#include <sstream>

namespace finetuner {
namespace {

bool isIdentifier(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

bool hasChild(const torch::jit::Module& module, const std::string& name) {
  for (const auto& child : module.named_children()) {
    if (child.name == name) return true;
  }
  return false;
}

// A container whose forward runs the chosen children in order: the backbone's own forward would also
// run the head, and a scripted Sequential cannot be assembled from C++.
torch::jit::Module buildTrunk(const torch::jit::Module& backbone, const std::vector<std::string>& names) {
  TORCH_CHECK(!names.empty(), "finetuner.json lists no trunk layers");
  torch::jit::Module trunk("__torch__.finetuner.Trunk");
  std::ostringstream source;
  source << "def forward(self, x: Tensor) -> Tensor:\n";
  for (const auto& name : names) {
    TORCH_CHECK(isIdentifier(name), "trunk layer '", name, "' is not a valid attribute name");
    TORCH_CHECK(hasChild(backbone, name), "the backbone has no child module '", name,
                "' (listed in finetuner.json's trunk)");
    trunk.register_module(name, backbone.attr(name).toModule());
    source << "    x = self." << name << ".forward(x)\n";
  }
  source << "    return x\n";
  trunk.define(source.str());
  return trunk;
}

std::string imagePoolingSource(Pooling pooling) {
  switch (pooling) {
    case Pooling::Average:
      return "    x = x.mean([2, 3])\n";
    case Pooling::Max:
      return "    x = x.amax([2, 3])\n";
    case Pooling::GeM:
      // Generalised mean: p = 1 is average pooling, p -> inf is max pooling; p is learned.
      return "    x = x.clamp(min=1e-6).pow(self.gem_p).mean([2, 3]).pow(1.0 / self.gem_p)\n";
    case Pooling::Cls:
      break;
  }
  TORCH_CHECK(false, "cls pooling is for text models");
}

// Padding must not count: mean and max only see positions whose attention mask is 1.
std::string textPoolingSource(Pooling pooling) {
  switch (pooling) {
    case Pooling::Average:
      return "    m = attention_mask.unsqueeze(-1).to(x.dtype)\n"
             "    x = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)\n";
    case Pooling::Max:
      return "    x = x.masked_fill(attention_mask.unsqueeze(-1) == 0, -1e4).amax(1)\n";
    case Pooling::Cls:
      return "    x = x.select(1, 0)\n";
    case Pooling::GeM:
      break;
  }
  TORCH_CHECK(false, "gem pooling is for image models");
}

// Projection and normalisation, shared by both modalities.
void appendHead(torch::jit::Module& module, const EmbeddingModuleSpec& spec, std::ostringstream& forward) {
  if (spec.outputDim > 0) {
    // Same initialisation as torch.nn.Linear (Kaiming-uniform weights, uniform bias), seeded so a run
    // is reproducible.
    torch::manual_seed(spec.seed);
    double bound = 1.0 / std::sqrt(static_cast<double>(spec.embeddingDim));
    auto weight = torch::empty({spec.outputDim, spec.embeddingDim}).uniform_(-bound, bound);
    auto bias = torch::empty({spec.outputDim}).uniform_(-bound, bound);
    module.register_parameter("proj_weight", weight, false);
    module.register_parameter("proj_bias", bias, false);
    forward << "    x = torch.matmul(x, self.proj_weight.t()) + self.proj_bias\n";
  }
  if (spec.normalize) {
    forward << "    x = x / torch.sqrt((x * x).sum(1, keepdim=True)).clamp(min=1e-12)\n";
  }
  forward << "    return x\n";
  int64_t outputDim = spec.outputDim > 0 ? spec.outputDim : spec.embeddingDim;
  module.register_attribute(kOutputDimAttribute, c10::IntType::get(), outputDim);
  module.define(forward.str());
}

torch::jit::Module buildImageModule(const torch::jit::Module& backbone, const EmbeddingModuleSpec& spec) {
  TORCH_CHECK(spec.mean.size() == 3 && spec.std.size() == 3, "mean and std need 3 values (RGB)");
  torch::jit::Module module("__torch__.finetuner.EmbeddingModel");
  module.register_module("trunk", buildTrunk(backbone, spec.trunk));
  module.register_buffer("pixel_mean", torch::tensor(spec.mean, torch::kFloat32).view({1, 3, 1, 1}));
  module.register_buffer("pixel_std", torch::tensor(spec.std, torch::kFloat32).view({1, 3, 1, 1}));
  if (spec.pooling == Pooling::GeM) {
    module.register_parameter("gem_p", torch::full({1}, spec.gemP, torch::kFloat32), false);
  }
  std::ostringstream forward;
  forward << "def forward(self, images: Tensor) -> Tensor:\n"
          << "    x = self.trunk.forward(images)\n"
          << imagePoolingSource(spec.pooling);
  appendHead(module, spec, forward);
  // Pixels arrive as uint8 N x H x W x 3 (what sharp decodes); layout change and normalisation happen
  // here so the saved model takes the same input in Python.
  module.define(
      // channels_last: the NHWC pixels already are, and oneDNN's convolutions (bf16 above all) run
      // fastest in it (resnet50 bf16: 3.3x float32 NCHW, measured in PyTorch here). 2 is
      // torch.channels_last, which C++-defined methods cannot name.
      "def encode_pixels(self, pixels: Tensor) -> Tensor:\n"
      "    x = pixels.permute(0, 3, 1, 2).float().div(255.0)\n"
      "    x = (x - self.pixel_mean) / self.pixel_std\n"
      "    return self.forward(x.contiguous(memory_format=2))\n");
  return module;
}

torch::jit::Module buildTextModule(const torch::jit::Module& backbone, const EmbeddingModuleSpec& spec) {
  torch::jit::Module module("__torch__.finetuner.TextEmbeddingModel");
  module.register_module("trunk", backbone);
  std::ostringstream forward;
  forward << "def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tensor:\n"
          << "    x = self.trunk.forward(input_ids, attention_mask, token_type_ids)\n"
          << textPoolingSource(spec.pooling);
  appendHead(module, spec, forward);
  // Token arrays cross from JS as int32; the backbone's embeddings want int64.
  module.define(
      "def encode_tokens(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tensor:\n"
      "    return self.forward(input_ids.long(), attention_mask.long(), token_type_ids.long())\n");
  return module;
}

// CLIP: both towers of the exported model, normalised into the shared space. Pixels arrive as for image
// models; token ids as for text models (token types are accepted and ignored, so both encode methods
// have the signatures of the single-modality modules).
torch::jit::Module buildClipModule(const torch::jit::Module& backbone, const EmbeddingModuleSpec& spec) {
  TORCH_CHECK(spec.mean.size() == 3 && spec.std.size() == 3, "mean and std need 3 values (RGB)");
  TORCH_CHECK(spec.outputDim == 0, "a CLIP model keeps its shared embedding space: outputDim is not supported");
  TORCH_CHECK(spec.normalize, "CLIP embeddings are always L2-normalised (normalize: false is not supported)");
  for (const char* method : {"encode_image", "encode_text"}) {
    TORCH_CHECK(backbone.find_method(method).has_value(), "the exported CLIP has no ", method,
                " method (re-export it with this version of finetuner)");
  }
  TORCH_CHECK(backbone.hasattr("logit_scale"), "the exported CLIP has no logit_scale parameter");
  torch::jit::Module module("__torch__.finetuner.ClipEmbeddingModel");
  module.register_module(kClipChild, backbone);
  module.register_buffer("pixel_mean", torch::tensor(spec.mean, torch::kFloat32).view({1, 3, 1, 1}));
  module.register_buffer("pixel_std", torch::tensor(spec.std, torch::kFloat32).view({1, 3, 1, 1}));
  module.register_attribute(kOutputDimAttribute, c10::IntType::get(), spec.embeddingDim);
  module.define(
      "def normalized(self, x: Tensor) -> Tensor:\n"
      "    return x / torch.sqrt((x * x).sum(1, keepdim=True)).clamp(min=1e-12)\n"
      "def encode_images(self, images: Tensor) -> Tensor:\n"
      "    return self.normalized(self.clip.encode_image(images))\n"
      // forward as in image modules (normalised float images); freeze() also needs a forward.
      "def forward(self, images: Tensor) -> Tensor:\n"
      "    return self.encode_images(images)\n"
      "def encode_pixels(self, pixels: Tensor) -> Tensor:\n"
      "    x = pixels.permute(0, 3, 1, 2).float().div(255.0)\n"
      "    x = (x - self.pixel_mean) / self.pixel_std\n"
      "    return self.encode_images(x.contiguous())\n"
      "def encode_tokens(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tensor:\n"
      "    return self.normalized(self.clip.encode_text(input_ids.long(), attention_mask.long()))\n");
  return module;
}

}  // namespace

const char* modalityName(Modality modality) {
  switch (modality) {
    case Modality::Image:
      return "image";
    case Modality::Text:
      return "text";
    case Modality::TextImage:
      return "text-image";
  }
  return "unknown";
}

Modality parseModality(const std::string& name) {
  if (name == "image") return Modality::Image;
  if (name == "text") return Modality::Text;
  if (name == "text-image") return Modality::TextImage;
  TORCH_CHECK(false, "unknown modality '", name, "': use image, text or text-image");
}

Pooling parsePooling(const std::string& name, Modality modality) {
  if (name == "avg" || name == "mean") return Pooling::Average;
  if (name == "max") return Pooling::Max;
  if (name == "gem" && modality == Modality::Image) return Pooling::GeM;
  if (name == "cls" && modality == Modality::Text) return Pooling::Cls;
  TORCH_CHECK(false, "unknown pooling '", name, "': use ",
              modality == Modality::Image ? "avg, max or gem" : "mean, cls or max", " for this model");
}

torch::jit::Module buildEmbeddingModule(const torch::jit::Module& backbone, const EmbeddingModuleSpec& spec) {
  TORCH_CHECK(spec.embeddingDim > 0, "embeddingDim must be positive");
  TORCH_CHECK(spec.outputDim >= 0, "outputDim must be 0 (no projection) or positive");
  switch (spec.modality) {
    case Modality::Image:
      return buildImageModule(backbone, spec);
    case Modality::Text:
      return buildTextModule(backbone, spec);
    case Modality::TextImage:
      return buildClipModule(backbone, spec);
  }
  TORCH_CHECK(false, "unknown modality");
}

}  // namespace finetuner

// CLIP (text-to-image): the exported CLIP kept whole as the `clip` child, its encode_image and encode_text
// L2-normalised into the shared space. Pixels arrive as for image models, token ids as for text models
// (token types are accepted and ignored, so both encode methods have the single-modality signatures).
// Trained with the contrastive loss and its learned temperature, clip.logit_scale.
#include "../model_input.h"
#include "../module_builder.h"
#include "modality.h"

#include <c10/util/Exception.h>

namespace finetuner {
namespace {

constexpr const char* kClipChild = "clip";
constexpr const char* kClipImageTower = "visual";

bool startsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

class TextImageModality final : public EmbeddingModality {
 public:
  Modality id() const override { return Modality::TextImage; }
  const char* name() const override { return "text-image"; }

  // CLIP's towers pool by themselves: no pooling, trunk or GeM.
  void readSpec(const BuildOptionReader& options, EmbeddingModuleSpec& spec) const override {
    spec.mean = options.numbers("mean");
    spec.std = options.numbers("std");
  }

  torch::jit::Module build(const torch::jit::Module& backbone, const EmbeddingModuleSpec& spec) const override {
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
    registerPixelNormalisation(module, spec);
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

  std::vector<EncodeMethod> encodeMethods() const override {
    return {{Modality::Image, kEncodePixelsMethod}, {Modality::Text, kEncodeTokensMethod}};
  }

  void checkModule(const torch::jit::Module& module) const override {
    TORCH_CHECK(module.hasattr(kClipChild), "not a finetuner CLIP model: no ", kClipChild, " module");
  }

  void checkFreezing(const Freezing& freezing) const override {
    TORCH_CHECK(freezing.part != FrozenPart::Trunk,
                "a CLIP model has no separate trunk: freeze 'image' or 'text' (one tower), or 'none'");
  }

  // 'image': clip.visual.*; 'text': the rest of clip but the temperature, which trains with either.
  bool isFrozen(const std::string& name, const Freezing& freezing) const override {
    const std::string imageTower = std::string(kClipChild) + "." + kClipImageTower + ".";
    const std::string logitScale = std::string(kClipChild) + ".logit_scale";
    switch (freezing.part) {
      case FrozenPart::ImageTower:
        return startsWith(name, imageTower);
      case FrozenPart::TextTower:
        return startsWith(name, std::string(kClipChild) + ".") && !startsWith(name, imageTower) && name != logitScale;
      case FrozenPart::None:
      case FrozenPart::Trunk:
        break;
    }
    return false;
  }

  void keepFrozenPartsInEval(torch::jit::Module& module, const Freezing& freezing) const override {
    auto clip = module.attr(kClipChild).toModule();
    if (freezing.part == FrozenPart::ImageTower) clip.attr(kClipImageTower).toModule().eval();
    if (freezing.part == FrozenPart::TextTower) {
      for (auto child : clip.named_children()) {
        if (child.name != kClipImageTower) child.value.eval();
      }
    }
  }

  torch::Tensor logitScale(torch::jit::Module& module) const override {
    return module.attr(kClipChild).toModule().attr("logit_scale").toTensor();
  }
};

}  // namespace

const EmbeddingModality& textImageModality() {
  static const TextImageModality modality;
  return modality;
}

}  // namespace finetuner

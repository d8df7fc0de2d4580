// Image models: trunk (the backbone's children up to the head) -> pooling over H x W -> optional
// projection -> optional L2 norm. encode_pixels takes uint8 N x H x W x 3 (what sharp decodes).
#include "../module_builder.h"
#include "trunk_modality.h"

#include <c10/util/Exception.h>

#include <cctype>
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
// run the head, and a scripted Sequential cannot be assembled from C++. Only these children are copied
// into the new module, so the saved model and the optimizer never see the classification head.
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

Pooling parseImagePooling(const std::string& name) {
  if (name == "avg" || name == "mean") return Pooling::Average;
  if (name == "max") return Pooling::Max;
  if (name == "gem") return Pooling::GeM;
  TORCH_CHECK(false, "unknown pooling '", name, "': use avg, max or gem for this model");
}

std::string poolingSource(Pooling pooling) {
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

class ImageModality final : public TrunkModality {
 public:
  Modality id() const override { return Modality::Image; }
  const char* name() const override { return "image"; }

  void readSpec(const BuildOptionReader& options, EmbeddingModuleSpec& spec) const override {
    spec.pooling = parseImagePooling(options.string("pooling"));
    spec.trunk = options.strings("trunk");
    spec.gemP = options.number("gemP");
    spec.mean = options.numbers("mean");
    spec.std = options.numbers("std");
  }

  torch::jit::Module build(const torch::jit::Module& backbone, const EmbeddingModuleSpec& spec) const override {
    TORCH_CHECK(spec.mean.size() == 3 && spec.std.size() == 3, "mean and std need 3 values (RGB)");
    torch::jit::Module module("__torch__.finetuner.EmbeddingModel");
    module.register_module("trunk", buildTrunk(backbone, spec.trunk));
    registerPixelNormalisation(module, spec);
    if (spec.pooling == Pooling::GeM) {
      module.register_parameter("gem_p", torch::full({1}, spec.gemP, torch::kFloat32), false);
    }
    std::ostringstream forward;
    forward << "def forward(self, images: Tensor) -> Tensor:\n"
            << "    x = self.trunk.forward(images)\n"
            << poolingSource(spec.pooling);
    appendProjectionHead(module, spec, forward);
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

  std::vector<EncodeMethod> encodeMethods() const override { return {{Modality::Image, kEncodePixelsMethod}}; }

  void prepareModule(torch::jit::Module& module) const override {
    // Convolution weights in channels_last, like the images encode_pixels passes them.
    torch::NoGradGuard noGrad;
    for (const auto& parameter : module.parameters(/*recurse=*/true)) {
      if (parameter.dim() == 4) parameter.set_data(parameter.contiguous(at::MemoryFormat::ChannelsLast));
    }
  }

  // optimize_for_inference pays off for CNNs in float32 (conv-BN folding, MKL-DNN layouts) but its
  // MKL-DNN ops are outside autocast's lists, so reduced precision keeps the plain frozen graph.
  bool optimizeForInference(Precision precision) const override { return precision == Precision::Float32; }
};

}  // namespace

const EmbeddingModality& imageModality() {
  static const ImageModality modality;
  return modality;
}

}  // namespace finetuner

#include "module_builder.h"

#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <cmath>

namespace finetuner {

torch::jit::Module buildEmbeddingModule(const torch::jit::Module& backbone, const EmbeddingModuleSpec& spec) {
  TORCH_CHECK(spec.embeddingDim > 0, "embeddingDim must be positive");
  TORCH_CHECK(spec.outputDim >= 0, "outputDim must be 0 (no projection) or positive");
  // NaN and zero pass unnoticed into the module and give NaN or infinite embeddings at every encode.
  TORCH_CHECK(std::isfinite(spec.gemP) && spec.gemP > 0, "gemP must be a finite positive number, got ", spec.gemP);
  for (double m : spec.mean) TORCH_CHECK(std::isfinite(m), "mean must hold finite numbers, got ", m);
  for (double d : spec.std) TORCH_CHECK(std::isfinite(d) && d > 0, "std must hold finite positive numbers, got ", d);
  return modalityOf(spec.modality).build(backbone, spec);
}

void appendProjectionHead(torch::jit::Module& module, const EmbeddingModuleSpec& spec, std::ostringstream& forward) {
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

void registerPixelNormalisation(torch::jit::Module& module, const EmbeddingModuleSpec& spec) {
  TORCH_CHECK(spec.mean.size() == 3 && spec.std.size() == 3, "mean and std need 3 values (RGB)");
  module.register_buffer("pixel_mean", torch::tensor(spec.mean, torch::kFloat32).view({1, 3, 1, 1}));
  module.register_buffer("pixel_std", torch::tensor(spec.std, torch::kFloat32).view({1, 3, 1, 1}));
}

}  // namespace finetuner

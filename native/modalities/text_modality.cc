// Text models: the whole backbone is the trunk (its forward returns token states) -> pooling over the
// attention mask -> optional projection -> optional L2 norm. encode_tokens takes int32 ids, mask, types.
#include "../module_builder.h"
#include "trunk_modality.h"

#include <c10/util/Exception.h>

#include <sstream>

namespace finetuner {
namespace {

Pooling parseTextPooling(const std::string& name) {
  if (name == "avg" || name == "mean") return Pooling::Average;
  if (name == "max") return Pooling::Max;
  if (name == "cls") return Pooling::Cls;
  TORCH_CHECK(false, "unknown pooling '", name, "': use mean, cls or max for this model");
}

// Padding must not count: mean and max only see positions whose attention mask is 1.
std::string poolingSource(Pooling pooling) {
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

// optimizeForInference stays false: it splits every linear layer of a transformer into matmul + add
// (12% slower for bert-base), so text models encode with the plain frozen graph.
class TextModality final : public TrunkModality {
 public:
  Modality id() const override { return Modality::Text; }
  const char* name() const override { return "text"; }

  void readSpec(const BuildOptionReader& options, EmbeddingModuleSpec& spec) const override {
    spec.pooling = parseTextPooling(options.string("pooling"));
  }

  torch::jit::Module build(const torch::jit::Module& backbone, const EmbeddingModuleSpec& spec) const override {
    torch::jit::Module module("__torch__.finetuner.TextEmbeddingModel");
    module.register_module("trunk", backbone);
    std::ostringstream forward;
    forward << "def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tensor:\n"
            << "    x = self.trunk.forward(input_ids, attention_mask, token_type_ids)\n"
            << poolingSource(spec.pooling);
    appendProjectionHead(module, spec, forward);
    // Token arrays cross from JS as int32; the backbone's embeddings want int64.
    module.define(
        "def encode_tokens(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tensor:\n"
        "    return self.forward(input_ids.long(), attention_mask.long(), token_type_ids.long())\n");
    return module;
  }

  std::vector<EncodeMethod> encodeMethods() const override { return {{Modality::Text, kEncodeTokensMethod}}; }
};

}  // namespace

const EmbeddingModality& textModality() {
  static const TextModality modality;
  return modality;
}

}  // namespace finetuner

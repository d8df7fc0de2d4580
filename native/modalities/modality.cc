#include "modality.h"

#include <c10/util/Exception.h>

#include <algorithm>

namespace finetuner {

FrozenPart parseFrozenPart(const std::string& name) {
  if (name == "none") return FrozenPart::None;
  if (name == "trunk") return FrozenPart::Trunk;
  if (name == "image") return FrozenPart::ImageTower;
  if (name == "text") return FrozenPart::TextTower;
  TORCH_CHECK(false, "option 'freeze' must be 'none', 'trunk', 'image' or 'text', got '", name, "'");
}

std::vector<std::string> EmbeddingModality::encodeMethodNames() const {
  std::vector<std::string> names;
  for (const auto& method : encodeMethods()) names.emplace_back(method.name);
  return names;
}

const char* EmbeddingModality::encodeMethodFor(Modality input) const {
  for (const auto& method : encodeMethods()) {
    if (method.input == input) return method.name;
  }
  TORCH_CHECK(false, "this is an ", name(), " model: it cannot encode ", modalityName(input), " input");
}

void EmbeddingModality::checkLayerDecay(const Freezing&) const {
  TORCH_CHECK(false, "layerDecay applies to text models (the layers of their transformer), not to ", name(), " models");
}

int64_t EmbeddingModality::layerDepth(const std::string&, const Freezing&) const {
  TORCH_CHECK(false, "layerDecay applies to text models, not to ", name(), " models");
}

torch::Tensor EmbeddingModality::logitScale(torch::jit::Module&) const {
  TORCH_CHECK(false, "only CLIP models have a logit scale");
}

const std::vector<const EmbeddingModality*>& allModalities() {
  static const std::vector<const EmbeddingModality*> modalities{&imageModality(), &textModality(), &textImageModality()};
  return modalities;
}

const EmbeddingModality& modalityOf(Modality id) {
  for (const auto* modality : allModalities()) {
    if (modality->id() == id) return *modality;
  }
  TORCH_CHECK(false, "unknown modality");
}

const EmbeddingModality& modalityNamed(const std::string& name) {
  std::string names;
  for (const auto* modality : allModalities()) {
    if (name == modality->name()) return *modality;
    names += names.empty() ? "" : ", ";
    names += modality->name();
  }
  TORCH_CHECK(false, "unknown modality '", name, "': use ", names);
}

const EmbeddingModality& modalityOfModule(const torch::jit::Module& module) {
  // The modality with the most encode methods that the module all has: a CLIP module has both methods,
  // and so the methods of each single modality too.
  const EmbeddingModality* found = nullptr;
  std::vector<std::string> known;
  for (const auto* modality : allModalities()) {
    auto methods = modality->encodeMethodNames();
    bool hasAll = std::all_of(methods.begin(), methods.end(),
                              [&](const std::string& method) { return module.find_method(method).has_value(); });
    if (hasAll && (!found || methods.size() > found->encodeMethods().size())) found = modality;
    for (const auto& method : methods) {
      if (std::find(known.begin(), known.end(), method) == known.end()) known.push_back(method);
    }
  }
  if (found) return *found;
  std::string list;
  for (size_t i = 0; i < known.size(); ++i) list += (i == 0 ? "" : i + 1 == known.size() ? " or " : ", ") + known[i];
  TORCH_CHECK(false, "not a finetuner embedding model: no ", list, " method");
}

const char* modalityName(Modality modality) {
  return modalityOf(modality).name();
}

}  // namespace finetuner

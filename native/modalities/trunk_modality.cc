#include "trunk_modality.h"

#include <c10/util/Exception.h>

#include <cstdlib>

namespace finetuner {
namespace {

bool startsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

void TrunkModality::checkFreezing(const Freezing& freezing) const {
  TORCH_CHECK(freezing.part != FrozenPart::ImageTower && freezing.part != FrozenPart::TextTower,
              "freeze 'image' and 'text' are for CLIP (text-to-image) models; use 'trunk' or 'none'");
}

bool TrunkModality::isFrozen(const std::string& name, const Freezing& freezing) const {
  if (freezing.part != FrozenPart::Trunk || !startsWith(name, "trunk.")) return false;
  if (freezing.trainableLayers <= 0 || freezing.layerPrefix.empty()) return true;
  // "trunk.encoder.layer.11.attention..." trains when 11 is among the top trainableLayers layers.
  std::string prefix = "trunk." + freezing.layerPrefix;
  if (!startsWith(name, prefix)) return true;
  int64_t layer = std::strtoll(name.c_str() + prefix.size(), nullptr, 10);
  return layer < freezing.numLayers - freezing.trainableLayers;
}

void TrunkModality::keepFrozenPartsInEval(torch::jit::Module& module, const Freezing& freezing) const {
  if (freezing.part == FrozenPart::Trunk && freezing.trainableLayers == 0) module.attr("trunk").toModule().eval();
}

}  // namespace finetuner

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

void TrunkModality::checkLayerDecay(const Freezing& layers) const {
  TORCH_CHECK(!layers.layerPrefix.empty() && layers.numLayers > 0, "layerDecay needs a transformer's layers (numLayers and "
              "layerPrefix, from a text model's metadata); none were given for this ", name(), " model");
}

int64_t TrunkModality::layerDepth(const std::string& name, const Freezing& layers) const {
  // Above the trunk: pooling (GeM's p) and the projection head train at the full rate.
  if (!startsWith(name, "trunk.")) return layers.numLayers + 1;
  std::string prefix = "trunk." + layers.layerPrefix;
  // In the trunk but outside the layers: the embeddings (and any part the forward does not run).
  if (!startsWith(name, prefix)) return 0;
  int64_t layer = std::strtoll(name.c_str() + prefix.size(), nullptr, 10);
  TORCH_CHECK(layer >= 0 && layer < layers.numLayers, "parameter ", name, " is in layer ", layer, " of a model with ",
              layers.numLayers, " layers");
  return layer + 1;
}

}  // namespace finetuner

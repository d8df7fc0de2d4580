// What image and text modalities share: a backbone trunk under a pooling and an optional projection
// head, frozen as a whole (freeze 'trunk') or, on a transformer, all but its top N layers.
#pragma once

#include "modality.h"

namespace finetuner {

class TrunkModality : public EmbeddingModality {
 public:
  void checkFreezing(const Freezing& freezing) const override;
  bool isFrozen(const std::string& parameterName, const Freezing& freezing) const override;
  void keepFrozenPartsInEval(torch::jit::Module& module, const Freezing& freezing) const override;
  // Transformers only (a layerPrefix and numLayers, which image backbones do not have).
  void checkLayerDecay(const Freezing& layers) const override;
  int64_t layerDepth(const std::string& parameterName, const Freezing& layers) const override;
};

}  // namespace finetuner

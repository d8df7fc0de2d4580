// A modality: what an embedding model embeds (images, texts, or both into one space for CLIP) and all
// that the generic core does differently for it. EmbeddingCore and buildEmbeddingModule hold one of these
// and never switch on the kind of model; each implementation lives in its own file beside this one:
//   image_modality.cc       CNN trunk -> pooling over H x W -> optional projection and L2 norm
//   text_modality.cc        transformer token states -> pooling over the mask -> projection, L2 norm
//   text_image_modality.cc  CLIP: both towers of the exported model, normalised into the shared space
// Adding a modality: a class here, its file, and one line in allModalities() (modality.cc).
#pragma once

#include "../precision.h"

#include <torch/script.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace finetuner {

// What a model embeds, and what a batch holds (ModelInput: Image or Text; only models are TextImage).
enum class Modality { Image, Text, TextImage };

struct EmbeddingModuleSpec;  // module_builder.h
struct ModelInput;           // model_input.h

// What stays fixed during training. Tower freezing is for CLIP models (CLIP fine-tuning is fragile:
// training one tower against the other, frozen, keeps the shared space anchored).
enum class FrozenPart { None, Trunk, ImageTower, TextTower };
FrozenPart parseFrozenPart(const std::string& name);

struct Freezing {
  FrozenPart part = FrozenPart::None;
  // With part Trunk on a transformer: the top N layers still train (0: the whole trunk is frozen).
  int64_t trainableLayers = 0;
  std::string layerPrefix;  // e.g. "encoder.layer." for BERT
  int64_t numLayers = 0;
};

// The build options' fields as a modality reads them; addon.cc backs these with the JS options object
// (each throws a TypeError naming a missing or mistyped field), so the modalities stay free of Node-API.
struct BuildOptionReader {
  std::function<std::string(const char*)> string;
  std::function<double(const char*)> number;
  std::function<std::vector<std::string>(const char*)> strings;
  std::function<std::vector<double>(const char*)> numbers;
};

// The TorchScript method that encodes one kind of input batch.
struct EncodeMethod {
  Modality input;
  const char* name;
};

class EmbeddingModality {
 public:
  virtual ~EmbeddingModality() = default;

  virtual Modality id() const = 0;
  // "image", "text", "text-image": the name JS passes and reads back.
  virtual const char* name() const = 0;

  // Building from an exported backbone: the modality's own fields of the build options into `spec`
  // (the shared ones, embeddingDim, outputDim, normalize and seed, are read by the caller), then the
  // module. The module's layout is the saved TorchScript format: Python loads exactly what is built.
  virtual void readSpec(const BuildOptionReader& options, EmbeddingModuleSpec& spec) const = 0;
  virtual torch::jit::Module build(const torch::jit::Module& backbone, const EmbeddingModuleSpec& spec) const = 0;

  // The encode methods a module of this modality has, one per kind of input it takes. A saved module's
  // modality is the one whose methods it has (modalityOfModule).
  virtual std::vector<EncodeMethod> encodeMethods() const = 0;
  std::vector<std::string> encodeMethodNames() const;
  // The method for a batch of `input`; refuses input this modality does not embed.
  const char* encodeMethodFor(Modality input) const;

  // A loaded module (built or saved): further checks of its layout, and changes for speed that leave
  // its results unchanged.
  virtual void checkModule(const torch::jit::Module& module) const {}
  virtual void prepareModule(torch::jit::Module& module) const {}
  // Whether torch::jit::optimize_for_inference pays off for the encode copy at this precision.
  virtual bool optimizeForInference(Precision precision) const { return false; }

  // Training: which freezing this modality allows, which parameters it freezes, and which submodules
  // stay in eval mode (BatchNorm statistics, dropout) while the rest trains.
  virtual void checkFreezing(const Freezing& freezing) const = 0;
  virtual bool isFrozen(const std::string& parameterName, const Freezing& freezing) const = 0;
  virtual void keepFrozenPartsInEval(torch::jit::Module& module, const Freezing& freezing) const = 0;

  // Layer-wise learning-rate decay (`layers` gives layerPrefix and numLayers): a parameter's depth in the
  // model's stack of layers, 0 for the embeddings under the first layer, i + 1 for layer i, numLayers + 1
  // for what sits above (pooling, projection). Modalities without one such stack refuse it in the check.
  virtual void checkLayerDecay(const Freezing& layers) const;
  virtual int64_t layerDepth(const std::string& parameterName, const Freezing& layers) const;

  // CLIP's learned temperature (CLIPLoss trains and clamps it). Refused by modalities without one.
  virtual torch::Tensor logitScale(torch::jit::Module& module) const;
};

const EmbeddingModality& imageModality();
const EmbeddingModality& textModality();
const EmbeddingModality& textImageModality();

// Every modality, in one list; the lookups below read it.
const std::vector<const EmbeddingModality*>& allModalities();
const EmbeddingModality& modalityOf(Modality id);
const EmbeddingModality& modalityNamed(const std::string& name);
// The modality of a loaded embedding module, from its encode methods.
const EmbeddingModality& modalityOfModule(const torch::jit::Module& module);
const char* modalityName(Modality modality);

}  // namespace finetuner

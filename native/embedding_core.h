// The embedding model without any Node-API: a TorchScript module plus its optimizer, guarded by a mutex
// because several async workers (encode, train step, save) may reach it from libuv's thread pool at once.
// Workers hold it by shared_ptr, so dispose() on the JS side never frees it under a running worker.
#pragma once

#include "distributed/process_group.h"
#include "losses/loss.h"
#include "model_input.h"
#include "module_builder.h"
#include "optimizer_factory.h"
#include "precision.h"
#include "training_random.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace finetuner {

struct TrainingOptions {
  std::string optimizer = "adam";  // a name of optimizerRegistry() (optimizer_factory.h)
  // The base rate: groups start at learningRate x their scale; setLearningRate replaces it every step.
  double learningRate = 1e-4;
  double weightDecay = 0.0;
  double momentum = 0.0;       // sgd, rmsprop
  std::optional<double> epsilon;  // adam, adamw, rmsprop, adagrad; default the optimizer's
  double rmspropAlpha = 0.99;  // rmsprop
  // false: biases and normalisation weights get no weight decay (parameter_groups.h).
  bool decayBiasesAndNorms = false;
  // Layer-wise learning-rate decay for transformers, in (0, 1]; 1 is off.
  double layerDecay = 1.0;
  // Gradient clipping by total norm before each optimizer step; 0 is off.
  double maxGradNorm = 0.0;
  // Seeds the generator of dropout (and any sampling a loss does) for this model's training.
  std::optional<uint64_t> seed;
  FrozenPart freeze = FrozenPart::None;
  // With freeze Trunk on a transformer: the top N layers still train (0: the whole trunk is frozen).
  int64_t trainableLayers = 0;
  std::string layerPrefix;  // e.g. "encoder.layer." for BERT
  int64_t numLayers = 0;
  // Keep a copy of the weights as they were before training, for WiSE-FT (interpolateWeights).
  bool keepInitialWeights = false;
};

// What a training step optimises: a loss of the registry (losses/loss_registry.h) by name, its options,
// and one target per row (int64 labels or group ids, or float32 scores; on the CPU, owned).
struct LossStep {
  std::string loss;
  LossOptions options;
  torch::Tensor targets;
  // Gradient accumulation: the loss is scaled by this before backward (1 / batches per update), and
  // the optimizer steps only when `update` is set; until then gradients add up across steps.
  double lossScale = 1.0;
  bool update = true;
  // Data-parallel training (distributed/process_group.h): the loss sees every rank's rows (gathered with
  // their gradients) and the gradients are averaged across ranks before the optimizer steps.
  std::shared_ptr<ProcessGroup> group;
};

struct TrainStepResult {
  double loss = 0.0;
  // Examples that contributed: mined triplets, or pairs for the pair losses.
  int64_t examples = 0;
  // Set when the optimizer stepped: the total gradient norm before clipping.
  std::optional<double> gradNorm;
  // Distributed steps: seconds in collectives (gathers, their backward, the gradient all-reduce), and in
  // the gradient all-reduce alone.
  std::optional<double> communicationSeconds;
  std::optional<double> allReduceSeconds;
};

// One of the optimizer's parameter groups as it stands (parameterGroups()).
struct ParameterGroupState {
  double learningRate = 0.0;
  double weightDecay = 0.0;
  std::vector<std::string> names;
};

struct ParameterCount {
  int64_t total = 0;
  int64_t trainable = 0;
  int64_t bytes = 0;
};

class EmbeddingCore {
 public:
  static std::shared_ptr<EmbeddingCore> fromBackbone(const std::string& path, const EmbeddingModuleSpec& spec,
                                                     torch::Device device);
  static std::shared_ptr<EmbeddingCore> fromSaved(const std::string& path, torch::Device device);

  // Inputs live on the CPU and may alias JS memory; they are only read.
  torch::Tensor encode(const ModelInput& input);
  void configureTraining(const TrainingOptions& options);
  // Learning-rate schedules are driven from JS step by step; this keeps the optimizer's state.
  void setLearningRate(double learningRate);
  // Inputs in the order the loss takes them (e.g. queries, documents[, negatives]).
  TrainStepResult trainStep(const std::vector<ModelInput>& inputs, const LossStep& step);
  // The optimizer's groups with their current learning rates (layer decay) and weight decay.
  std::vector<ParameterGroupState> parameterGroups();
  void save(const std::string& path);
  // Everything a resumed run needs beyond the weights (which save() writes): the optimizer's state, the
  // parameters of the current loss, the default CPU generator's state and the WiSE-FT initial weights.
  // Needs configureTraining first. loadTrainingState checks the file against the current training
  // configuration (optimizer, trainable parameters) and throws naming the mismatch.
  void saveTrainingState(const std::string& path);
  // With the run's loss (built now if it owns parameters: their optimizer group is part of the state).
  void loadTrainingState(const std::string& path, const std::string& lossName, const LossOptions& lossOptions);
  // WiSE-FT (Wortsman et al. 2022): weights = (1 - alpha) * initial + alpha * fine-tuned. Needs
  // keepInitialWeights in configureTraining before the first step.
  void interpolateWeights(double alpha);
  // CLIP models: the learned log inverse temperature.
  double logitScale();

  // Mixed precision of encode and training forwards from now on (autocast; weights stay float32).
  void setPrecision(Precision precision);
  Precision precision() const { return precision_; }

  torch::Device device() const { return device_; }
  Modality modality() const { return modality_->id(); }
  int64_t outputDim() const { return outputDim_; }
  ParameterCount parameterCount();

 private:
  EmbeddingCore(torch::jit::Module module, torch::Device device);
  void applyFreezing();
  void setTrainingMode(bool training);
  torch::jit::Module& inferenceModule();
  torch::Tensor run(torch::jit::Module& module, const ModelInput& input);
  Freezing freezing() const;
  torch::Tensor logitScaleParameter();
  Loss& lossFor(const std::string& name, const LossOptions& options);
  void attachLossParameters();
  void restorePendingLossParameters();

  std::mutex mutex_;
  torch::jit::Module module_;
  torch::Device device_;
  // What the module embeds, and all the core does differently for it (native/modalities/).
  const EmbeddingModality* modality_;
  int64_t outputDim_;
  std::optional<TrainingOptions> training_;
  std::atomic<Precision> precision_{Precision::Float32};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  // Per optimizer parameter group: its learning rate is the scheduled rate times this (layer decay).
  // A group added later (a loss's own parameters) appends its scale here.
  std::vector<double> groupScales_;
  std::vector<std::vector<std::string>> groupNames_;
  // Steps whose gradients were added since the last optimizer step (gradient accumulation).
  int64_t accumulatedSteps_ = 0;
  bool accumulating_ = false;
  TrainingRandom random_;
  // The loss of the last step, kept while its name and options stay the same (a loss may hold state);
  // dropped by configureTraining.
  std::unique_ptr<Loss> loss_;
  std::string lossName_;
  LossOptions lossOptions_;
  // The optimizer's last parameter group holds loss_'s own parameters (class weights).
  bool lossGroup_ = false;
  // Loss parameters read by loadTrainingState, copied into the loss it builds (restorePendingLossParameters).
  std::vector<std::pair<std::string, torch::Tensor>> pendingLossParameters_;
  // The optimizer's settings, for the parameter group a loss adds (attachLossParameters).
  OptimizerSettings optimizerSettings_;
  // name -> weights before the first training step (only with keepInitialWeights).
  std::vector<std::pair<std::string, torch::Tensor>> initialWeights_;
  // A frozen, inference-optimised copy for encode (conv-BN folding, constant weights): built on first
  // use and dropped whenever a training step changes the weights.
  std::optional<torch::jit::Module> inference_;
  Precision inferencePrecision_ = Precision::Float32;  // what inference_ was built for
  bool inferenceFailed_ = false;
};

}  // namespace finetuner

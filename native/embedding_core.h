// The embedding model without any Node-API: a TorchScript module plus its optimizer, guarded by a mutex
// because several async workers (encode, train step, save) may reach it from libuv's thread pool at once.
// Workers hold it by shared_ptr, so dispose() on the JS side never frees it under a running worker.
#pragma once

#include "module_builder.h"
#include "triplet_loss.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace finetuner {

struct TrainingOptions {
  std::string optimizer = "adam";  // adam | adamw | sgd
  double learningRate = 1e-4;
  double weightDecay = 0.0;
  double momentum = 0.9;  // sgd only
  bool freezeTrunk = false;
  double margin = 0.2;
  Miner miner = Miner::BatchHard;
};

struct TrainStepResult {
  double loss = 0.0;
  int64_t triplets = 0;
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

  // pixels: uint8 N x H x W x 3 on the CPU (may alias JS memory; it is only read).
  torch::Tensor encodePixels(const torch::Tensor& pixels);
  void configureTraining(const TrainingOptions& options);
  // Learning-rate schedules are driven from JS step by step; this keeps the optimizer's state.
  void setLearningRate(double learningRate);
  TrainStepResult trainStep(const torch::Tensor& pixels, const torch::Tensor& labels);
  void save(const std::string& path);

  torch::Device device() const { return device_; }
  int64_t outputDim() const { return outputDim_; }
  ParameterCount parameterCount();

 private:
  EmbeddingCore(torch::jit::Module module, torch::Device device);
  void applyFreezing();
  torch::jit::Module& inferenceModule();
  void setTrainingMode(bool training);

  std::mutex mutex_;
  torch::jit::Module module_;
  torch::Device device_;
  int64_t outputDim_;
  std::optional<TrainingOptions> training_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<TripletMarginLoss> loss_;
  // A frozen, inference-optimised copy for encode (conv-BN folding, constant weights): built on first
  // use and dropped whenever a training step changes the weights.
  std::optional<torch::jit::Module> inference_;
  bool inferenceFailed_ = false;
};

}  // namespace finetuner

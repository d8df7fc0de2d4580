#include "embedding_core.h"

#include "optimizer_factory.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

namespace finetuner {
namespace {

torch::jit::Module loadTorchScript(const std::string& path, torch::Device device) {
  TORCH_CHECK(std::filesystem::exists(path), "model file not found: ", path);
  try {
    return torch::jit::load(path, device);
  } catch (const c10::Error& error) {
    TORCH_CHECK(false, "cannot load TorchScript model ", path, " (corrupt or not TorchScript): ",
                error.what_without_backtrace());
  }
}

bool startsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

EmbeddingCore::EmbeddingCore(torch::jit::Module module, torch::Device device)
    : module_(std::move(module)), device_(device) {
  TORCH_CHECK(module_.find_method(kEncodePixelsMethod).has_value(), "not a finetuner embedding model: no ",
              kEncodePixelsMethod, " method");
  TORCH_CHECK(module_.hasattr(kOutputDimAttribute), "not a finetuner embedding model: no ",
              kOutputDimAttribute, " attribute");
  outputDim_ = module_.attr(kOutputDimAttribute).toInt();
  module_.eval();
}

std::shared_ptr<EmbeddingCore> EmbeddingCore::fromBackbone(const std::string& path, const EmbeddingModuleSpec& spec,
                                                           torch::Device device) {
  auto backbone = loadTorchScript(path, torch::kCPU);
  auto module = buildEmbeddingModule(backbone, spec);
  module.to(device);
  return std::shared_ptr<EmbeddingCore>(new EmbeddingCore(std::move(module), device));
}

std::shared_ptr<EmbeddingCore> EmbeddingCore::fromSaved(const std::string& path, torch::Device device) {
  auto module = loadTorchScript(path, device);
  try {
    return std::shared_ptr<EmbeddingCore>(new EmbeddingCore(std::move(module), device));
  } catch (const c10::Error& error) {
    TORCH_CHECK(false, path, ": ", error.what_without_backtrace());
  }
}

void EmbeddingCore::setTrainingMode(bool training) {
  module_.train(training);
  // A frozen trunk keeps its BatchNorm statistics: updating them while its weights stay fixed would
  // shift the features the projection head is learning from.
  if (training && training_ && training_->freezeTrunk) module_.attr("trunk").toModule().eval();
}

torch::jit::Module& EmbeddingCore::inferenceModule() {
  setTrainingMode(false);
  if (inference_) return *inference_;
  if (inferenceFailed_) return module_;
  try {
    // freeze() copies the module; the original keeps training. Only encode_pixels is needed.
    std::vector<std::string> methods{kEncodePixelsMethod};
    auto frozen = torch::jit::freeze(module_, methods);
    inference_ = torch::jit::optimize_for_inference(frozen, methods);
    return *inference_;
  } catch (const c10::Error&) {
    // Some graphs cannot be frozen; encoding with the training module is slower but equivalent.
    inferenceFailed_ = true;
    return module_;
  }
}

torch::Tensor EmbeddingCore::encodePixels(const torch::Tensor& pixels) {
  TORCH_CHECK(pixels.dim() == 4 && pixels.size(3) == 3, "pixels must be N x H x W x 3");
  std::lock_guard<std::mutex> lock(mutex_);
  auto& module = inferenceModule();
  c10::InferenceMode inference;
  auto input = pixels.to(device_, /*non_blocking=*/false);
  auto output = module.get_method(kEncodePixelsMethod)({input}).toTensor();
  return output.to(torch::kCPU, torch::kFloat32).contiguous();
}

void EmbeddingCore::applyFreezing() {
  for (const auto& parameter : module_.named_parameters(/*recurse=*/true)) {
    bool frozen = training_->freezeTrunk && startsWith(parameter.name, "trunk.");
    parameter.value.set_requires_grad(!frozen);
  }
}

void EmbeddingCore::configureTraining(const TrainingOptions& options) {
  std::lock_guard<std::mutex> lock(mutex_);
  training_ = options;
  applyFreezing();
  std::vector<torch::Tensor> trainable;
  for (const auto& parameter : module_.parameters(/*recurse=*/true)) {
    if (parameter.requires_grad()) trainable.push_back(parameter);
  }
  TORCH_CHECK(!trainable.empty(), "nothing to train: the trunk is frozen and there is no projection head or "
              "GeM pooling (set outputDim, pooling 'gem' or freeze: false)");
  optimizer_ = makeOptimizer(options, trainable);
  loss_ = std::make_unique<TripletMarginLoss>(options.margin, options.miner);
}

void EmbeddingCore::setLearningRate(double learningRate) {
  TORCH_CHECK(learningRate > 0 && std::isfinite(learningRate), "learningRate must be positive, got ", learningRate);
  std::lock_guard<std::mutex> lock(mutex_);
  TORCH_CHECK(optimizer_, "configureTraining must be called before setLearningRate");
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(learningRate);
}

TrainStepResult EmbeddingCore::trainStep(const torch::Tensor& pixels, const torch::Tensor& labels) {
  TORCH_CHECK(pixels.dim() == 4 && pixels.size(3) == 3, "pixels must be N x H x W x 3");
  TORCH_CHECK(labels.size(0) == pixels.size(0), "one label per image is needed");
  std::lock_guard<std::mutex> lock(mutex_);
  TORCH_CHECK(optimizer_, "configureTraining must be called before trainStep");
  setTrainingMode(true);
  auto input = pixels.to(device_);
  auto embeddings = module_.get_method(kEncodePixelsMethod)({input}).toTensor();
  auto mined = (*loss_)(embeddings, labels.to(torch::kInt64));
  optimizer_->zero_grad();
  TrainStepResult result;
  result.triplets = mined.triplets;
  result.loss = mined.loss.item<double>();
  TORCH_CHECK(std::isfinite(result.loss), "the loss is not finite (", result.loss,
              "): lower the learning rate");
  if (mined.triplets > 0) {
    mined.loss.backward();
    optimizer_->step();
    inference_.reset();
  }
  return result;
}

void EmbeddingCore::save(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  setTrainingMode(false);
  // Written beside the target, then renamed: a reader never sees a half-written model.pt.
  std::string temporary = path + ".tmp-" + std::to_string(reinterpret_cast<uintptr_t>(this));
  try {
    module_.save(temporary);
    std::filesystem::rename(temporary, path);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
}

ParameterCount EmbeddingCore::parameterCount() {
  std::lock_guard<std::mutex> lock(mutex_);
  ParameterCount count;
  for (const auto& parameter : module_.parameters(/*recurse=*/true)) {
    count.total += parameter.numel();
    if (parameter.requires_grad()) count.trainable += parameter.numel();
    count.bytes += parameter.numel() * parameter.element_size();
  }
  for (const auto& buffer : module_.buffers(/*recurse=*/true)) count.bytes += buffer.numel() * buffer.element_size();
  return count;
}

}  // namespace finetuner

#include "embedding_core.h"

#include "losses/loss_registry.h"
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

const char* methodOf(Modality modality) {
  return modality == Modality::Image ? kEncodePixelsMethod : kEncodeTokensMethod;
}

std::vector<std::string> encodeMethodsOf(Modality modality) {
  if (modality == Modality::TextImage) return {kEncodePixelsMethod, kEncodeTokensMethod};
  return {methodOf(modality)};
}

}  // namespace

FrozenPart parseFrozenPart(const std::string& name) {
  if (name == "none") return FrozenPart::None;
  if (name == "trunk") return FrozenPart::Trunk;
  if (name == "image") return FrozenPart::ImageTower;
  if (name == "text") return FrozenPart::TextTower;
  TORCH_CHECK(false, "option 'freeze' must be 'none', 'trunk', 'image' or 'text', got '", name, "'");
}

EmbeddingCore::EmbeddingCore(torch::jit::Module module, torch::Device device)
    : module_(std::move(module)), device_(device) {
  bool image = module_.find_method(kEncodePixelsMethod).has_value();
  bool text = module_.find_method(kEncodeTokensMethod).has_value();
  TORCH_CHECK(image || text, "not a finetuner embedding model: no ", kEncodePixelsMethod, " or ",
              kEncodeTokensMethod, " method");
  modality_ = image && text ? Modality::TextImage : image ? Modality::Image : Modality::Text;
  if (modality_ == Modality::TextImage) {
    TORCH_CHECK(module_.hasattr(kClipChild), "not a finetuner CLIP model: no ", kClipChild, " module");
  }
  TORCH_CHECK(module_.hasattr(kOutputDimAttribute), "not a finetuner embedding model: no ",
              kOutputDimAttribute, " attribute");
  outputDim_ = module_.attr(kOutputDimAttribute).toInt();
  module_.eval();
  if (device_.is_cuda()) {
    // Fixed input shapes per model: cuDNN's autotuner pays for itself after the first batch. TF32
    // matmuls and convolutions for float32 work (bf16/fp16 autocast does not need them).
    auto& context = at::globalContext();
    context.setBenchmarkCuDNN(true);
    context.setAllowTF32CuBLAS(true);
    context.setAllowTF32CuDNN(true);
  }
  if (modality_ == Modality::Image) {
    // Convolution weights in channels_last, like the images encode_pixels passes them.
    torch::NoGradGuard noGrad;
    for (const auto& parameter : module_.parameters(/*recurse=*/true)) {
      if (parameter.dim() == 4) parameter.set_data(parameter.contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
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
  if (!training || !training_) return;
  // A frozen part keeps its BatchNorm statistics (and no dropout): updating them while its weights stay
  // fixed would shift the features the rest is learning from.
  switch (training_->freeze) {
    case FrozenPart::Trunk:
      if (training_->trainableLayers == 0) module_.attr("trunk").toModule().eval();
      break;
    case FrozenPart::ImageTower:
      module_.attr(kClipChild).toModule().attr(kClipImageTower).toModule().eval();
      break;
    case FrozenPart::TextTower:
      for (auto child : module_.attr(kClipChild).toModule().named_children()) {
        if (child.name != kClipImageTower) child.value.eval();
      }
      break;
    case FrozenPart::None:
      break;
  }
}

bool EmbeddingCore::supports(Modality input) const {
  return input == modality_ || (modality_ == Modality::TextImage && input != Modality::TextImage);
}

torch::Tensor EmbeddingCore::run(torch::jit::Module& module, const ModelInput& input) {
  TORCH_CHECK(supports(input.modality), "this is an ", modalityName(modality_), " model: it cannot encode ",
              modalityName(input.modality), " input");
  auto onDevice = input.to(device_);
  std::vector<c10::IValue> arguments(onDevice.tensors.begin(), onDevice.tensors.end());
  return module.get_method(methodOf(input.modality))(arguments).toTensor();
}

torch::jit::Module& EmbeddingCore::inferenceModule() {
  setTrainingMode(false);
  Precision precision = precision_;
  if (inference_ && inferencePrecision_ == precision) return *inference_;
  if (inferenceFailed_) return module_;
  try {
    // freeze() copies the module; the original keeps training. Only the encode methods are needed.
    auto methods = encodeMethodsOf(modality_);
    auto frozen = torch::jit::freeze(module_, methods);
    // optimize_for_inference pays off for CNNs in float32 (conv-BN folding, MKL-DNN layouts) but its
    // MKL-DNN ops are outside autocast's lists, so reduced precision keeps the plain frozen graph; it
    // also splits every linear layer of a transformer into matmul + add (12% slower for bert-base).
    bool optimize = modality_ == Modality::Image && precision == Precision::Float32;
    inference_ = optimize ? torch::jit::optimize_for_inference(frozen, methods) : frozen;
    inferencePrecision_ = precision;
    return *inference_;
  } catch (const c10::Error&) {
    // Some graphs cannot be frozen; encoding with the training module is slower but equivalent.
    inferenceFailed_ = true;
    return module_;
  }
}

torch::Tensor EmbeddingCore::encode(const ModelInput& input) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& module = inferenceModule();
  AutocastScope autocast(precision_, device_);
  if (&module != &module_) {
    c10::InferenceMode inference;
    return run(module, input).to(torch::kCPU, torch::kFloat32).contiguous();
  }
  // The training module's graphs may have been optimised for autograd by earlier steps, and those
  // refuse InferenceMode's tensors: plain no-grad mode runs them.
  torch::NoGradGuard noGrad;
  return run(module, input).to(torch::kCPU, torch::kFloat32).contiguous();
}

void EmbeddingCore::setPrecision(Precision precision) {
  TORCH_CHECK(precision != Precision::Float16 || device_.is_cuda(),
              "fp16 needs a CUDA device (float16 autocast on the CPU is slow and loses range); use bf16");
  precision_ = precision;
}

bool EmbeddingCore::isFrozen(const std::string& name) const {
  const auto& options = *training_;
  const std::string imageTower = std::string(kClipChild) + "." + kClipImageTower + ".";
  const std::string logitScale = std::string(kClipChild) + ".logit_scale";
  switch (options.freeze) {
    case FrozenPart::None:
      return false;
    case FrozenPart::ImageTower:
      return startsWith(name, imageTower);
    case FrozenPart::TextTower:
      return startsWith(name, std::string(kClipChild) + ".") && !startsWith(name, imageTower) && name != logitScale;
    case FrozenPart::Trunk:
      break;
  }
  if (!startsWith(name, "trunk.")) return false;
  if (options.trainableLayers <= 0 || options.layerPrefix.empty()) return true;
  // "trunk.encoder.layer.11.attention..." trains when 11 is among the top trainableLayers layers.
  std::string prefix = "trunk." + options.layerPrefix;
  if (!startsWith(name, prefix)) return true;
  int64_t layer = std::strtoll(name.c_str() + prefix.size(), nullptr, 10);
  return layer < options.numLayers - options.trainableLayers;
}

void EmbeddingCore::applyFreezing() {
  for (const auto& parameter : module_.named_parameters(/*recurse=*/true)) {
    parameter.value.set_requires_grad(!isFrozen(parameter.name));
  }
}

void EmbeddingCore::configureTraining(const TrainingOptions& options) {
  TORCH_CHECK(options.trainableLayers >= 0, "trainableLayers must not be negative");
  TORCH_CHECK(options.trainableLayers == 0 || options.trainableLayers <= options.numLayers,
              "trainableLayers (", options.trainableLayers, ") exceeds the model's ", options.numLayers, " layers");
  bool clip = modality_ == Modality::TextImage;
  TORCH_CHECK(clip || (options.freeze != FrozenPart::ImageTower && options.freeze != FrozenPart::TextTower),
              "freeze 'image' and 'text' are for CLIP (text-to-image) models; use 'trunk' or 'none'");
  TORCH_CHECK(!clip || options.freeze != FrozenPart::Trunk,
              "a CLIP model has no separate trunk: freeze 'image' or 'text' (one tower), or 'none'");
  std::lock_guard<std::mutex> lock(mutex_);
  training_ = options;
  loss_.reset();
  lossGroup_ = false;  // the optimizer is rebuilt below
  applyFreezing();
  if (options.keepInitialWeights && initialWeights_.empty()) {
    torch::NoGradGuard noGrad;
    for (const auto& parameter : module_.named_parameters(/*recurse=*/true)) {
      initialWeights_.emplace_back(parameter.name, parameter.value.detach().clone());
    }
  }
  std::vector<torch::Tensor> trainable;
  for (const auto& parameter : module_.parameters(/*recurse=*/true)) {
    if (parameter.requires_grad()) trainable.push_back(parameter);
  }
  TORCH_CHECK(!trainable.empty(), "nothing to train: the trunk is frozen and there is no projection head or "
              "GeM pooling (set outputDim, pooling 'gem' or freeze: false)");
  optimizer_ = makeOptimizer(options, trainable);
}

void EmbeddingCore::setLearningRate(double learningRate) {
  TORCH_CHECK(learningRate > 0 && std::isfinite(learningRate), "learningRate must be positive, got ", learningRate);
  std::lock_guard<std::mutex> lock(mutex_);
  TORCH_CHECK(optimizer_, "configureTraining must be called before setLearningRate");
  // A loss's own group follows the schedule at its own rate: lossLearningRate x (rate / learningRate).
  auto& groups = optimizer_->param_groups();
  for (size_t i = 0; i < groups.size(); ++i) {
    bool lossGroup = lossGroup_ && i + 1 == groups.size();
    groups[i].options().set_lr(lossGroup ? loss_->learningRate() * learningRate / training_->learningRate : learningRate);
  }
}

Loss& EmbeddingCore::lossFor(const std::string& name, const LossOptions& options) {
  if (!loss_ || name != lossName_ || options != lossOptions_) {
    LossContext context;
    context.modality = modality_;
    context.outputDim = outputDim_;
    context.device = device_;
    context.modelParameter = [this](const std::string& parameterName) {
      for (const auto& parameter : module_.named_parameters(/*recurse=*/true)) {
        if (parameter.name == parameterName) return parameter.value;
      }
      return torch::Tensor();
    };
    loss_.reset();
    loss_ = makeLoss(name, options, context);
    lossName_ = name;
    lossOptions_ = options;
    attachLossParameters();
  }
  return *loss_;
}

// A loss's own parameters (ArcFace's class weights) train with the model's optimizer, as a parameter
// group of their own at the loss's learning rate; an earlier loss's group goes with that loss.
void EmbeddingCore::attachLossParameters() {
  auto& groups = optimizer_->param_groups();
  if (lossGroup_) {
    for (const auto& parameter : groups.back().params()) optimizer_->state().erase(c10::guts::to_string(parameter.unsafeGetTensorImpl()));
    groups.pop_back();
    lossGroup_ = false;
  }
  std::vector<torch::Tensor> parameters;
  for (const auto& named : loss_->parameters()) parameters.push_back(named.second);
  if (parameters.empty()) return;
  auto options = groups.front().options().clone();
  options->set_lr(loss_->learningRate() * groups.front().options().get_lr() / training_->learningRate);
  optimizer_->add_param_group(torch::optim::OptimizerParamGroup(parameters, std::move(options)));
  lossGroup_ = true;
}

TrainStepResult EmbeddingCore::trainStep(const std::vector<ModelInput>& inputs, const LossStep& step) {
  TORCH_CHECK(!inputs.empty(), "a training step needs at least one batch");
  std::lock_guard<std::mutex> lock(mutex_);
  TORCH_CHECK(optimizer_, "configureTraining must be called before a training step");
  Loss& loss = lossFor(step.loss, step.options);
  setTrainingMode(true);
  LossBatch batch;
  batch.targets = step.targets;
  // Forwards under autocast; backward outside it, as autocast intends (the backward ops follow the
  // types the forward recorded).
  {
    AutocastScope autocast(precision_, device_);
    for (const auto& input : inputs) {
      batch.embeddings.push_back(run(module_, input));
      batch.modalities.push_back(input.modality);
    }
  }
  // The loss in float32: under autocast its matmuls (distances, scores, CLIP logits) would run in bf16
  // even on float32 inputs, which cost the image demo 0.036 mAP; outside it, bf16 matches fp32 (< 0.01).
  for (auto& embedding : batch.embeddings) embedding = embedding.to(torch::kFloat32);

  auto value = loss.compute(batch);
  TrainStepResult result;
  result.examples = value.examples;
  optimizer_->zero_grad();
  result.loss = value.loss.item<double>();
  TORCH_CHECK(std::isfinite(result.loss), "the loss is not finite (", result.loss, "): lower the learning rate");
  if (result.examples > 0) {
    value.loss.backward();
    optimizer_->step();
    {
      torch::NoGradGuard noGrad;
      loss.afterStep();
    }
    inference_.reset();
  }
  return result;
}

torch::Tensor EmbeddingCore::logitScaleParameter() {
  TORCH_CHECK(modality_ == Modality::TextImage, "only CLIP models have a logit scale");
  return module_.attr(kClipChild).toModule().attr("logit_scale").toTensor();
}

double EmbeddingCore::logitScale() {
  std::lock_guard<std::mutex> lock(mutex_);
  return logitScaleParameter().item<double>();
}

void EmbeddingCore::interpolateWeights(double alpha) {
  TORCH_CHECK(alpha >= 0.0 && alpha <= 1.0, "wiseFt alpha must be between 0 and 1, got ", alpha);
  std::lock_guard<std::mutex> lock(mutex_);
  TORCH_CHECK(!initialWeights_.empty(),
              "WiSE-FT needs the weights from before training: configure training with keepInitialWeights");
  torch::NoGradGuard noGrad;
  size_t index = 0;
  for (const auto& parameter : module_.named_parameters(/*recurse=*/true)) {
    TORCH_CHECK(index < initialWeights_.size() && initialWeights_[index].first == parameter.name,
                "the model's parameters changed since training started (", parameter.name, ")");
    // fine-tuned + (1 - alpha) * (initial - fine-tuned) = (1 - alpha) * initial + alpha * fine-tuned
    parameter.value.lerp_(initialWeights_[index].second, 1.0 - alpha);
    ++index;
  }
  inference_.reset();
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

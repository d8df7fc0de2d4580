#include "embedding_core.h"

#include "distributed/gather_with_grad.h"
#include "dynamic_quantization.h"
#include "grad_cache.h"
#include "losses/loss_registry.h"
#include "model_file.h"
#include "model_file_writer.h"
#include "gradient_norm.h"
#include "optimizer_factory.h"
#include "parameter_groups.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/cuda.h>

namespace finetuner {
namespace {

// Through ModelFile: a regular file only (a FIFO would block the compute thread), CRCs checked.
torch::jit::Module loadTorchScript(const std::string& path, torch::Device device) {
  auto file = ModelFile::openVerified(path);
  try {
    return torch::jit::load(file, device);
  } catch (const c10::Error& error) {
    TORCH_CHECK(false, "cannot load TorchScript model ", path, " (corrupt or not TorchScript): ",
                error.what_without_backtrace());
  }
}

}  // namespace

EmbeddingCore::EmbeddingCore(torch::jit::Module module, torch::Device device)
    : module_(std::move(module)), device_(device), modality_(&modalityOfModule(module_)) {
  modality_->checkModule(module_);
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
  modality_->prepareModule(module_);
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
  modality_->keepFrozenPartsInEval(module_, freezing());
}

torch::Tensor EmbeddingCore::run(torch::jit::Module& module, const ModelInput& input) {
  const char* method = modality_->encodeMethodFor(input.modality);
  auto onDevice = input.to(device_);
  std::vector<c10::IValue> arguments(onDevice.tensors.begin(), onDevice.tensors.end());
  return module.get_method(method)(arguments).toTensor();
}

torch::jit::Module& EmbeddingCore::inferenceModule() {
  setTrainingMode(false);
  Precision precision = precision_;
  if (inference_ && inferencePrecision_ == precision) return *inference_;
  TORCH_CHECK(!(inferenceFailed_ && precision == Precision::Int8),
              "int8 needs a frozen inference graph, and this model's graph cannot be frozen; use fp32 or bf16");
  if (inferenceFailed_) return module_;
  auto methods = modality_->encodeMethodNames();
  std::optional<torch::jit::Module> frozen;
  try {
    // freeze() copies the module; the original keeps training. Only the encode methods are needed.
    frozen = torch::jit::freeze(module_, methods);
  } catch (const c10::Error&) {
    // Some graphs cannot be frozen; encoding with the training module is slower but equivalent.
    inferenceFailed_ = true;
    TORCH_CHECK(precision != Precision::Int8,
                "int8 needs a frozen inference graph, and this model's graph cannot be frozen; use fp32 or bf16");
    return module_;
  }
  if (precision == Precision::Int8) {
    // Before any optimize_for_inference, which would split linear layers into matmul + add. A failure
    // here is an error: a caller who asked for int8 must not silently get float32.
    quantizeLinearLayers(*frozen, methods);
  } else if (modality_->optimizeForInference(precision)) {
    try {
      frozen = torch::jit::optimize_for_inference(*frozen, methods);
    } catch (const c10::Error&) {
      // The frozen graph is still a valid (if slower) inference plan.
    }
  }
  inference_ = std::move(frozen);
  inferencePrecision_ = precision;
  return *inference_;
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
  TORCH_CHECK(precision != Precision::Int8 || !device_.is_cuda(),
              "int8 runs on the CPU (LibTorch's quantized kernels are CPU-only); on CUDA use fp16 or bf16");
  precision_ = precision;
}

Freezing EmbeddingCore::freezing() const {
  const auto& options = *training_;
  return Freezing{options.freeze, options.trainableLayers, options.layerPrefix, options.numLayers};
}

void EmbeddingCore::applyFreezing() {
  auto frozen = freezing();
  for (const auto& parameter : module_.named_parameters(/*recurse=*/true)) {
    parameter.value.set_requires_grad(!modality_->isFrozen(parameter.name, frozen));
  }
}

void EmbeddingCore::configureTraining(const TrainingOptions& options) {
  TORCH_CHECK(options.trainableLayers >= 0, "trainableLayers must not be negative");
  TORCH_CHECK(options.trainableLayers == 0 || options.trainableLayers <= options.numLayers,
              "trainableLayers (", options.trainableLayers, ") exceeds the model's ", options.numLayers, " layers");
  TORCH_CHECK(std::isfinite(options.maxGradNorm) && options.maxGradNorm >= 0,
              "maxGradNorm must be a finite number >= 0 (0: no clipping), got ", options.maxGradNorm);
  TORCH_CHECK(std::isfinite(options.layerDecay) && options.layerDecay > 0 && options.layerDecay <= 1,
              "layerDecay must be in (0, 1], got ", options.layerDecay);
  TORCH_CHECK(std::isfinite(options.weightDecay) && options.weightDecay >= 0, "weightDecay must be a finite number >= 0, got ",
              options.weightDecay);
  OptimizerSettings settings;
  settings.name = options.optimizer;
  settings.learningRate = options.learningRate;
  settings.momentum = options.momentum;
  settings.epsilon = options.epsilon;
  settings.rmspropAlpha = options.rmspropAlpha;
  // Every option is checked before anything changes: a refused configuration leaves the last one working.
  checkOptimizerSettings(settings);
  std::lock_guard<std::mutex> lock(mutex_);
  Freezing frozen{options.freeze, options.trainableLayers, options.layerPrefix, options.numLayers};
  modality_->checkFreezing(frozen);
  if (options.layerDecay != 1.0) modality_->checkLayerDecay(frozen);
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
  std::vector<std::pair<std::string, torch::Tensor>> trainable;
  for (const auto& parameter : module_.named_parameters(/*recurse=*/true)) {
    if (parameter.value.requires_grad()) trainable.emplace_back(parameter.name, parameter.value);
  }
  TORCH_CHECK(!trainable.empty(), "nothing to train: the trunk is frozen and there is no projection head or "
              "GeM pooling (set outputDim, pooling 'gem' or freeze: false)");
  GroupingRules rules;
  rules.weightDecay = options.weightDecay;
  rules.decayBiasesAndNorms = options.decayBiasesAndNorms;
  rules.layerDecay = options.layerDecay;
  rules.numLayers = options.numLayers;
  rules.depthOf = [&](const std::string& name) { return modality_->layerDepth(name, frozen); };
  auto groups = groupParameters(trainable, rules);
  optimizer_ = makeOptimizer(settings, groups);
  optimizerSettings_ = settings;
  groupScales_.clear();
  groupNames_.clear();
  for (const auto& group : groups) {
    groupScales_.push_back(group.learningRateScale);
    groupNames_.push_back(group.names);
  }
  accumulatedSteps_ = 0;
  accumulating_ = false;
  if (options.seed) {
    random_.seed(*options.seed);
    if (device_.is_cuda()) torch::cuda::manual_seed_all(*options.seed);
  }
}

void EmbeddingCore::setLearningRate(double learningRate) {
  TORCH_CHECK(learningRate > 0 && std::isfinite(learningRate), "learningRate must be positive, got ", learningRate);
  std::lock_guard<std::mutex> lock(mutex_);
  TORCH_CHECK(optimizer_, "configureTraining must be called before setLearningRate");
  auto& groups = optimizer_->param_groups();
  TORCH_CHECK(groups.size() == groupScales_.size(), "the optimizer has ", groups.size(), " parameter groups but ",
              groupScales_.size(), " learning-rate scales");
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options().set_lr(learningRate * groupScales_[i]);
}

std::vector<ParameterGroupState> EmbeddingCore::parameterGroups() {
  std::lock_guard<std::mutex> lock(mutex_);
  TORCH_CHECK(optimizer_, "configureTraining must be called before parameterGroups");
  std::vector<ParameterGroupState> states;
  auto& groups = optimizer_->param_groups();
  for (size_t i = 0; i < groups.size(); ++i) {
    ParameterGroupState state;
    state.learningRate = groups[i].options().get_lr();
    state.weightDecay = weightDecayOf(groups[i].options());
    if (i < groupNames_.size()) state.names = groupNames_[i];
    states.push_back(std::move(state));
  }
  return states;
}

Loss& EmbeddingCore::lossFor(const std::string& name, const LossOptions& options) {
  if (!loss_ || name != lossName_ || options != lossOptions_) {
    LossContext context;
    context.modality = modality_->id();
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
    restorePendingLossParameters();
  }
  return *loss_;
}

// A loss's own parameters (ArcFace's class weights) train with the model's optimizer, as a parameter
// group of their own at lossLearningRate (its scale follows the schedule like every group's) and without
// weight decay; an earlier loss's group goes with that loss. The group's options and initial state come
// from the optimizer's own factory (a scratch optimizer over the group): LibTorch's Adagrad makes its
// state only in its constructor, and the first group's options may hold a decay or layer scale.
void EmbeddingCore::attachLossParameters() {
  auto& groups = optimizer_->param_groups();
  if (lossGroup_) {
    for (const auto& parameter : groups.back().params()) optimizer_->state().erase(c10::guts::to_string(parameter.unsafeGetTensorImpl()));
    groups.pop_back();
    groupScales_.pop_back();
    groupNames_.pop_back();
    lossGroup_ = false;
  }
  ParameterGroup group;
  for (const auto& [name, parameter] : loss_->parameters()) {
    group.parameters.push_back(parameter);
    group.names.push_back("loss." + name);
  }
  if (group.parameters.empty()) return;
  group.learningRateScale = loss_->learningRate() / training_->learningRate;
  auto scratch = makeOptimizer(optimizerSettings_, {group});
  auto& scratchGroup = scratch->param_groups().front();
  scratchGroup.options().set_lr(groups.front().options().get_lr() * group.learningRateScale / groupScales_.front());
  optimizer_->add_param_group(torch::optim::OptimizerParamGroup(group.parameters, scratchGroup.options().clone()));
  for (const auto& parameter : group.parameters) {
    auto key = c10::guts::to_string(parameter.unsafeGetTensorImpl());
    auto state = scratch->state().find(key);
    if (state != scratch->state().end()) optimizer_->state()[key] = std::move(state->second);
  }
  groupScales_.push_back(group.learningRateScale);
  groupNames_.push_back(group.names);
  lossGroup_ = true;
}

TrainStepResult EmbeddingCore::trainStep(const std::vector<ModelInput>& inputs, const LossStep& step) {
  TORCH_CHECK(!inputs.empty(), "a training step needs at least one batch");
  TORCH_CHECK(std::isfinite(step.lossScale) && step.lossScale > 0, "lossScale must be a finite positive number, got ",
              step.lossScale);
  std::lock_guard<std::mutex> lock(mutex_);
  TORCH_CHECK(optimizer_, "configureTraining must be called before a training step");
  Loss& loss = lossFor(step.loss, step.options);
  setTrainingMode(true);
  // Training forwards run TorchScript's unoptimised plan. The optimised one, which the profiling
  // executor switches to after the first runs, builds autodiff subgraphs whose gradients differ from
  // eager autograd's in the last bits; a resumed run, whose executor starts cold, would then drift from
  // an uninterrupted one instead of matching it bit for bit. (The flag is per thread; every step runs
  // on the compute thread.) Only in float32: under autocast TorchScript inserts its casts in an
  // optimisation pass, and without it a bf16 forward mixes types (layer_norm refuses Float beside
  // BFloat16), so mixed-precision steps keep the optimised plan and resume is exact in float32 only.
  std::optional<torch::jit::GraphOptimizerEnabledGuard> unoptimized;
  if (autocastPrecision(precision_) == Precision::Float32) unoptimized.emplace(false);
  TrainingRandom::Scope random(random_);
  LossBatch batch;
  batch.targets = step.targets;
  for (const auto& input : inputs) batch.modalities.push_back(input.modality);
  // Forwards under autocast; backward outside it, as autocast intends (the backward ops follow the
  // types the forward recorded).
  auto embed = [this](const ModelInput& input) {
    AutocastScope autocast(precision_, device_);
    return run(module_, input);
  };
  // A loss that asks for GradCache sees the whole batch's embeddings as leaves without a graph; the
  // graph is built again a mini-batch at a time after its backward (grad_cache.h).
  std::optional<GradCache> gradCache;
  ProcessGroup* group = step.group.get();
  TORCH_CHECK(group == nullptr || loss.cachedMiniBatch() == 0, "loss '", step.loss,
              "' embeds in GradCache mini-batches, which distributed training does not support yet; use "
              "MultipleNegativesRankingLoss (the ranks' batches together make the large batch)");
  double communicationBefore = group ? group->communicationSeconds() : 0.0;
  if (loss.cachedMiniBatch() > 0) {
    gradCache.emplace(loss.cachedMiniBatch(), device_, embed);
    batch.embeddings = gradCache->embedWithoutGraph(inputs);
  } else {
    for (const auto& input : inputs) batch.embeddings.push_back(embed(input));
  }
  // The loss in float32: under autocast its matmuls (distances, scores, CLIP logits) would run in bf16
  // even on float32 inputs, which cost the image demo 0.036 mAP; outside it, bf16 matches fp32 (< 0.01).
  for (auto& embedding : batch.embeddings) embedding = embedding.to(torch::kFloat32);
  if (group != nullptr) {
    // The global batch: every rank's rows in rank order, as one process would have embedded them.
    for (auto& embedding : batch.embeddings) embedding = gatherWithGrad(embedding, *group);
    batch.targets = group->allGatherRows(batch.targets.to(group->device()), nullptr, "all-gather of targets").cpu();
  }

  auto value = loss.compute(batch);
  TrainStepResult result;
  result.examples = value.examples;
  // The first step of an update starts from zero gradients; later ones (accumulation) add to them.
  if (!accumulating_) {
    optimizer_->zero_grad();
    accumulating_ = true;
  }
  result.loss = value.loss.item<double>();
  TORCH_CHECK(std::isfinite(result.loss), "the loss is not finite (", result.loss, "): lower the learning rate");
  if (result.examples > 0) {
    (step.lossScale == 1.0 ? value.loss : value.loss * step.lossScale).backward();
    if (gradCache) gradCache->backward(inputs, batch.embeddings);
    ++accumulatedSteps_;
  }
  if (step.update) {
    accumulating_ = false;
    if (accumulatedSteps_ > 0) {
      accumulatedSteps_ = 0;
      std::vector<torch::Tensor> parameters;
      for (const auto& group : optimizer_->param_groups()) {
        parameters.insert(parameters.end(), group.params().begin(), group.params().end());
      }
      if (group != nullptr) {
        // Averaged over the ranks (see gather_with_grad.h for why the mean is the one-process gradient),
        // before clipping, so that every rank clips and steps alike.
        std::vector<torch::Tensor> gradients;
        for (const auto& parameter : parameters) {
          if (parameter.grad().defined()) gradients.push_back(parameter.grad());
        }
        double before = group->communicationSeconds();
        group->allReduce(gradients, /*average=*/true, "all-reduce of gradients");
        result.allReduceSeconds = group->communicationSeconds() - before;
      }
      double norm = clipGradientNorm(parameters, training_->maxGradNorm);
      TORCH_CHECK(std::isfinite(norm), "the gradient norm is not finite (", norm, "): lower the learning rate");
      result.gradNorm = norm;
      optimizer_->step();
      {
        torch::NoGradGuard noGrad;
        loss.afterStep();
      }
      inference_.reset();
    }
  }
  if (group != nullptr) result.communicationSeconds = group->communicationSeconds() - communicationBefore;
  return result;
}

torch::Tensor EmbeddingCore::logitScaleParameter() {
  return modality_->logitScale(module_);
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
  TORCH_CHECK(path.find('\0') == std::string::npos, "save path contains a NUL byte: ", path.c_str());
  // Written beside the target, then renamed: a reader never sees a half-written model.pt. The writer
  // turns write errors (a full disk) into an exception after ExportModule returns, never inside it.
  ModelFileWriter writer(path, path + ".tmp-" + std::to_string(reinterpret_cast<uintptr_t>(this)));
  torch::jit::ExportModule(module_, [&writer](const void* data, size_t size) { return writer.write(data, size); });
  writer.commit();
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

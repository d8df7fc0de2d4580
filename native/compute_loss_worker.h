// computeLoss: one loss of the registry on given embeddings, without a model, off the event loop: its
// value, its gradient with respect to each input batch, and the tuples its miner chose. For checking a
// loss against another library (test/metric-losses.test.ts compares with pytorch-metric-learning). The
// embeddings and targets are copied when the job is queued. A loss that needs a model parameter (CLIP's
// logit scale) finds none (LossContext::modelParameter gives an undefined tensor) and says so.
#pragma once

#include "loss_arguments.h"
#include "losses/loss_registry.h"
#include "promise_worker.h"

#include <cstring>
#include <string>
#include <vector>

namespace finetuner {

class ComputeLossWorker : public PromiseWorker {
 public:
  // computeLoss(name, embeddings: Float32Array[], dim, targets, options, dtype: 'float32' | 'float64').
  static Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throwTypeError(env, "computeLoss needs the loss name");
    std::string name = info[0].As<Napi::String>().Utf8Value();
    if (!lossRegistry().has(name)) throwTypeError(env, "unknown loss '" + name + "': use " + lossRegistry().joinedNames());
    if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() == 0) throwTypeError(env, "computeLoss needs an array of Float32Array embeddings");
    if (!info[2].IsNumber() || info[2].As<Napi::Number>().Int64Value() < 1) throwRangeError(env, "computeLoss needs the embedding dim, a positive integer");
    const int64_t dim = info[2].As<Napi::Number>().Int64Value();
    auto arrays = info[1].As<Napi::Array>();
    std::vector<torch::Tensor> embeddings;
    for (uint32_t i = 0; i < arrays.Length(); ++i) {
      Napi::Value value = arrays.Get(i);
      std::string what = "embeddings[" + std::to_string(i) + "]";
      if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) throwTypeError(env, what + " must be a Float32Array");
      auto array = value.As<Napi::Float32Array>();
      const auto length = static_cast<int64_t>(array.ElementLength());
      if (length == 0 || length % dim != 0) throwRangeError(env, what + " has " + std::to_string(length) + " values, not rows of " + std::to_string(dim));
      embeddings.push_back(torch::from_blob(array.Data(), {length / dim, dim}, torch::kFloat32).clone());
      if (embeddings.back().size(0) != embeddings.front().size(0)) throwRangeError(env, "every embeddings array needs the same rows");
    }
    auto targets = targetValues(info[3], embeddings.front().size(0));
    auto options = lossOptionsFromJs(info[4]);
    bool float64 = info[5].IsString() && info[5].As<Napi::String>().Utf8Value() == "float64";
    auto* worker = new ComputeLossWorker(env, std::move(name), std::move(embeddings), std::move(targets), std::move(options), float64);
    worker->Queue();
    return worker->Promise();
  }

 protected:
  void Run() override {
    LossContext context;
    context.outputDim = inputs_.front().size(1);
    context.modelParameter = [](const std::string&) { return torch::Tensor(); };
    auto loss = makeLoss(name_, options_, context);
    LossBatch batch;
    batch.targets = targets_;
    for (auto& input : inputs_) {
      input = input.to(float64_ ? torch::kDouble : torch::kFloat32).requires_grad_(true);
      batch.embeddings.push_back(input);
      batch.modalities.push_back(Modality::Image);
    }
    auto value = loss->compute(batch);
    loss_ = value.loss.item<double>();
    examples_ = value.examples;
    mined_ = value.mined.parts;
    if (value.loss.requires_grad()) value.loss.backward();
    for (const auto& input : inputs_) gradients_.push_back(floatCopy(input.grad(), input));
    for (const auto& [parameterName, parameter] : loss->parameters()) {
      parameters_.push_back({parameterName, floatCopy(parameter.detach(), parameter), floatCopy(parameter.grad(), parameter)});
    }
  }

  Napi::Value Result(Napi::Env env) override {
    auto result = Napi::Object::New(env);
    result.Set("loss", loss_);
    result.Set("examples", static_cast<double>(examples_));
    auto gradients = Napi::Array::New(env, gradients_.size());
    for (uint32_t i = 0; i < gradients_.size(); ++i) {
      gradients.Set(i, floatArray(env, gradients_[i]));
    }
    result.Set("gradients", gradients);
    // The loss's own parameters (class weights): values, shape and gradient.
    auto parameters = Napi::Object::New(env);
    for (const auto& parameter : parameters_) {
      auto entry = Napi::Object::New(env);
      entry.Set("values", floatArray(env, parameter.values));
      entry.Set("gradient", floatArray(env, parameter.gradient));
      auto shape = Napi::Array::New(env, parameter.values.dim());
      for (int64_t d = 0; d < parameter.values.dim(); ++d) shape.Set(static_cast<uint32_t>(d), static_cast<double>(parameter.values.size(d)));
      entry.Set("shape", shape);
      parameters.Set(parameter.name, entry);
    }
    result.Set("parameters", parameters);
    if (!mined_.empty()) {
      auto mined = Napi::Array::New(env, mined_.size());
      for (uint32_t i = 0; i < mined_.size(); ++i) {
        auto indices = mined_[i].to(torch::kCPU, torch::kInt32).contiguous();
        auto array = Napi::Int32Array::New(env, indices.numel());
        if (indices.numel()) std::memcpy(array.Data(), indices.data_ptr<int32_t>(), indices.numel() * sizeof(int32_t));
        mined.Set(i, array);
      }
      result.Set("mined", mined);
    }
    return result;
  }

 private:
  struct Parameter {
    std::string name;
    torch::Tensor values;
    torch::Tensor gradient;
  };

  // A float32 CPU copy of `tensor`, zeros shaped like `like` where it is undefined (no gradient).
  static torch::Tensor floatCopy(const torch::Tensor& tensor, const torch::Tensor& like) {
    auto defined = tensor.defined() ? tensor : torch::zeros_like(like);
    return defined.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  }

  static Napi::Float32Array floatArray(Napi::Env env, const torch::Tensor& values) {
    auto array = Napi::Float32Array::New(env, values.numel());
    if (values.numel()) std::memcpy(array.Data(), values.data_ptr<float>(), values.numel() * sizeof(float));
    return array;
  }

  ComputeLossWorker(Napi::Env env, std::string name, std::vector<torch::Tensor> inputs, torch::Tensor targets, LossOptions options,
                    bool float64)
      : PromiseWorker(env, "finetuner:computeLoss"), name_(std::move(name)), inputs_(std::move(inputs)),
        targets_(std::move(targets)), options_(std::move(options)), float64_(float64) {}

  std::string name_;
  std::vector<torch::Tensor> inputs_;
  torch::Tensor targets_;
  LossOptions options_;
  bool float64_;
  double loss_ = 0.0;
  int64_t examples_ = 0;
  std::vector<torch::Tensor> gradients_;
  std::vector<torch::Tensor> mined_;
  std::vector<Parameter> parameters_;
};

}  // namespace finetuner

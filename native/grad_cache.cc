#include "grad_cache.h"

#include <ATen/Context.h>

#include <mutex>

namespace finetuner {

GradCache::GradCache(int64_t miniBatch, torch::Device device, Embed embed)
    : miniBatch_(miniBatch), device_(device), embed_(std::move(embed)) {
  TORCH_CHECK(miniBatch_ > 0, "GradCache needs a positive mini-batch size, got ", miniBatch_);
}

// Dropout draws from the default generator of the device the module runs on.
torch::Tensor GradCache::randomState() {
  auto generator = at::globalContext().defaultGenerator(device_);
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void GradCache::setRandomState(const torch::Tensor& state) {
  auto generator = at::globalContext().defaultGenerator(device_);
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

std::vector<torch::Tensor> GradCache::embedWithoutGraph(const std::vector<ModelInput>& inputs) {
  miniBatches_.clear();
  std::vector<torch::Tensor> leaves;
  torch::NoGradGuard noGrad;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::vector<torch::Tensor> parts;
    for (int64_t start = 0; start < inputs[i].rows(); start += miniBatch_) {
      int64_t end = std::min(start + miniBatch_, inputs[i].rows());
      miniBatches_.push_back({i, start, end, randomState()});
      parts.push_back(embed_(inputs[i].rowsSlice(start, end)).to(torch::kFloat32));
    }
    leaves.push_back(torch::cat(parts, 0).requires_grad_(true));
  }
  return leaves;
}

void GradCache::backward(const std::vector<ModelInput>& inputs, const std::vector<torch::Tensor>& leaves) {
  auto after = randomState();
  for (const auto& part : miniBatches_) {
    const auto& gradient = leaves[part.input].grad();
    if (!gradient.defined()) continue;  // the loss did not use this input batch
    setRandomState(part.randomState);
    auto embedding = embed_(inputs[part.input].rowsSlice(part.start, part.end)).to(torch::kFloat32);
    embedding.backward(gradient.slice(0, part.start, part.end));
  }
  setRandomState(after);
}

}  // namespace finetuner

// The random numbers of a model's training (dropout, and any sampling a loss or miner does) from a
// generator of its own, seeded by configureTraining: a CPU run is reproducible bit for bit, whatever other
// models in the process draw in between. TorchScript's dropout takes no generator argument, so a step
// swaps this state into LibTorch's default CPU generator and takes it back afterwards; every LibTorch job
// runs on the one compute thread (compute_thread.h), and the generator's own mutex guards each swap.
#pragma once

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <cstdint>
#include <mutex>
#include <optional>

namespace finetuner {

class TrainingRandom {
 public:
  void seed(uint64_t seed) { generator_ = at::make_generator<at::CPUGeneratorImpl>(seed); }
  bool seeded() const { return generator_.has_value(); }

  // The state the next step draws from: this model's generator when seeded, else LibTorch's default one.
  // Checkpoints save and restore it, so a resumed run draws the dropout masks the stopped one would have.
  torch::Tensor state() const {
    at::Generator generator = generator_ ? *generator_ : at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    return generator.get_state();
  }
  void setState(const torch::Tensor& state) {
    at::Generator generator = generator_ ? *generator_ : at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(state);
  }

  // While alive, the default CPU generator holds this model's state (when seeded); restores it after.
  class Scope {
   public:
    explicit Scope(TrainingRandom& random) : random_(random) {
      if (!random_.generator_) return;
      auto defaults = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(defaults.mutex());
      saved_ = defaults.get_state();
      defaults.set_state(random_.generator_->get_state());
    }
    ~Scope() {
      if (!random_.generator_) return;
      try {
        auto defaults = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(defaults.mutex());
        random_.generator_->set_state(defaults.get_state());
        defaults.set_state(saved_);
      } catch (...) {
        // No exception leaves a destructor; a failed swap only costs reproducibility.
      }
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    TrainingRandom& random_;
    torch::Tensor saved_;
  };

 private:
  std::optional<at::Generator> generator_;
};

}  // namespace finetuner

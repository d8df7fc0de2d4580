// Mixed precision for a forward (and its backward): LibTorch's autocast, which is thread-local, so it is
// switched on around each job on the worker thread that runs it, and restored afterwards (libuv reuses
// threads for other models). Matrix multiplies and convolutions run in the reduced type (autocast's op lists;
// in LibTorch 1.13 on the CPU, ops fed bf16 such as layer norm and softmax stay in bf16). Losses run in
// float32, outside the scope. bf16 is the CPU choice: measured on this
// project's 2-vCPU AMD EPYC (avx512_bf16), a 4096x768x3072 linear ran 2.3 times faster and resnet50 in
// channels_last 3.3 times faster than float32.
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/Device.h>
#include <c10/util/Exception.h>

#include <string>

namespace finetuner {

// Int8 is an encode-only precision: the linear layers of the inference copy run as dynamically quantized
// int8 (dynamic_quantization.h); training forwards under it run in float32.
enum class Precision { Float32, BFloat16, Float16, Int8 };

// The autocast type a forward runs under: int8 changes the inference graph, not autocast.
inline Precision autocastPrecision(Precision precision) {
  return precision == Precision::Int8 ? Precision::Float32 : precision;
}

inline Precision parsePrecision(const std::string& name) {
  if (name == "fp32") return Precision::Float32;
  if (name == "bf16") return Precision::BFloat16;
  if (name == "fp16") return Precision::Float16;
  if (name == "int8") return Precision::Int8;
  TORCH_CHECK(false, "precision must be 'fp32', 'bf16', 'fp16' or 'int8' (or 'auto' in JS), got '", name, "'");
}

inline const char* precisionName(Precision precision) {
  switch (precision) {
    case Precision::Float32:
      return "fp32";
    case Precision::BFloat16:
      return "bf16";
    case Precision::Float16:
      return "fp16";
    case Precision::Int8:
      return "int8";
  }
  return "fp32";
}

class AutocastScope {
 public:
  AutocastScope(Precision precision, c10::Device device)
      : cpuEnabled_(at::autocast::is_cpu_enabled()),
        gpuEnabled_(at::autocast::is_enabled()),
        cpuType_(at::autocast::get_autocast_cpu_dtype()),
        gpuType_(at::autocast::get_autocast_gpu_dtype()) {
    precision = autocastPrecision(precision);
    if (precision == Precision::Float32) return;
    active_ = true;
    auto type = precision == Precision::BFloat16 ? at::kBFloat16 : at::kHalf;
    if (device.is_cuda()) {
      at::autocast::set_enabled(true);
      at::autocast::set_autocast_gpu_dtype(type);
    } else {
      TORCH_CHECK(precision == Precision::BFloat16, "fp16 autocast is for CUDA; on the CPU use bf16");
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(type);
    }
  }

  ~AutocastScope() {
    if (!active_) return;
    at::autocast::set_cpu_enabled(cpuEnabled_);
    at::autocast::set_enabled(gpuEnabled_);
    at::autocast::set_autocast_cpu_dtype(cpuType_);
    at::autocast::set_autocast_gpu_dtype(gpuType_);
    // Casts of weights are cached for the scope; dropping them frees the reduced-precision copies and
    // makes the next scope see weights updated by the optimizer.
    at::autocast::clear_cache();
  }

  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  bool cpuEnabled_;
  bool gpuEnabled_;
  at::ScalarType cpuType_;
  at::ScalarType gpuType_;
};

}  // namespace finetuner

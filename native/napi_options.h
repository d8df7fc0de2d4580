// Reading option objects that cross from JS. The TypeScript facade validates first and names the
// user's option; these checks guard the raw binding itself and throw TypeErrors naming the field.
#pragma once

#include "errors.h"

#include <napi.h>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace finetuner {

inline Napi::Value requireField(const Napi::Object& options, const char* key) {
  Napi::Value value = options.Get(key);
  if (value.IsUndefined()) throwTypeError(options.Env(), std::string("option '") + key + "' is required");
  return value;
}

inline std::string stringField(const Napi::Object& options, const char* key) {
  Napi::Value value = requireField(options, key);
  if (!value.IsString()) throwTypeError(options.Env(), std::string("option '") + key + "' must be a string");
  return value.As<Napi::String>().Utf8Value();
}

inline double numberField(const Napi::Object& options, const char* key) {
  Napi::Value value = requireField(options, key);
  if (!value.IsNumber()) throwTypeError(options.Env(), std::string("option '") + key + "' must be a number");
  return value.As<Napi::Number>().DoubleValue();
}

inline bool boolField(const Napi::Object& options, const char* key) {
  Napi::Value value = requireField(options, key);
  if (!value.IsBoolean()) throwTypeError(options.Env(), std::string("option '") + key + "' must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

inline std::vector<std::string> stringArrayField(const Napi::Object& options, const char* key) {
  Napi::Value value = requireField(options, key);
  if (!value.IsArray()) throwTypeError(options.Env(), std::string("option '") + key + "' must be an array");
  auto array = value.As<Napi::Array>();
  std::vector<std::string> result;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) throwTypeError(options.Env(), std::string("option '") + key + "' must hold strings");
    result.push_back(item.As<Napi::String>().Utf8Value());
  }
  return result;
}

inline std::vector<double> numberArrayField(const Napi::Object& options, const char* key) {
  Napi::Value value = requireField(options, key);
  if (!value.IsArray()) throwTypeError(options.Env(), std::string("option '") + key + "' must be an array");
  auto array = value.As<Napi::Array>();
  std::vector<double> result;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsNumber()) throwTypeError(options.Env(), std::string("option '") + key + "' must hold numbers");
    result.push_back(item.As<Napi::Number>().DoubleValue());
  }
  return result;
}

// 'cuda' without a GPU is refused here rather than deep inside LibTorch, with a message that says so.
inline torch::Device deviceField(const Napi::Object& options) {
  std::string name = stringField(options, "device");
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available()) {
      throw Napi::Error::New(options.Env(), "device 'cuda' was requested but CUDA is not available (this "
                                            "LibTorch build or machine has no GPU); use device 'cpu' or 'auto'");
    }
    return torch::kCUDA;
  }
  throwTypeError(options.Env(), "option 'device' must be 'cpu' or 'cuda', got '" + name + "'");
}

}  // namespace finetuner

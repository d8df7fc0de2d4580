// The loss arguments that cross from JS, shared by a model's trainStep and the addon's computeLoss:
// targets (copied: one number per row) and the loss's named options (numbers, strings, lists of numbers).
#pragma once

#include "errors.h"
#include "losses/loss_options.h"

#include <napi.h>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace finetuner {

// Labels, group ids and scores are one number per row: copying them is simpler than holding a reference.
// An Int32Array becomes int64 ids, a Float32Array float32 scores; each loss checks it got the kind it takes.
inline torch::Tensor targetValues(const Napi::Value& value, int64_t rows) {
  Napi::Env env = value.Env();
  bool ids = value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array;
  bool scores = value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
  if (!ids && !scores) throwTypeError(env, "targets must be an Int32Array (labels or group ids) or a Float32Array (scores)");
  auto array = value.As<Napi::TypedArray>();
  if (static_cast<int64_t>(array.ElementLength()) != rows) {
    throwRangeError(env, "targets has " + std::to_string(array.ElementLength()) + " entries for " + std::to_string(rows) + " rows");
  }
  void* data = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  if (ids) return torch::from_blob(data, {rows}, torch::kInt32).to(torch::kInt64);
  return torch::from_blob(data, {rows}, torch::kFloat32).clone();
}

// A list option (MatryoshkaLoss's dims and weights): an array of numbers.
inline std::vector<double> numberList(const Napi::Array& array, const std::string& what) {
  std::vector<double> values;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value value = array.Get(i);
    if (!value.IsNumber()) throwTypeError(array.Env(), what + " must hold numbers only");
    values.push_back(value.As<Napi::Number>().DoubleValue());
  }
  return values;
}

// { name: number | string | number[] }; undefined is no options.
inline LossOptions lossOptionsFromJs(const Napi::Value& value) {
  Napi::Env env = value.Env();
  LossOptions options;
  if (value.IsUndefined()) return options;
  if (!value.IsObject() || value.IsArray()) throwTypeError(env, "lossOptions must be an object of numbers, strings and arrays of numbers");
  auto object = value.As<Napi::Object>();
  auto names = object.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    std::string name = names.Get(i).As<Napi::String>().Utf8Value();
    Napi::Value option = object.Get(name);
    if (option.IsNumber()) {
      options.set(name, option.As<Napi::Number>().DoubleValue());
    } else if (option.IsString()) {
      options.set(name, option.As<Napi::String>().Utf8Value());
    } else if (option.IsArray()) {
      options.set(name, numberList(option.As<Napi::Array>(), "lossOptions." + name));
    } else {
      throwTypeError(env, "lossOptions." + name + " must be a number or a string (or an array of numbers)");
    }
  }
  return options;
}

}  // namespace finetuner

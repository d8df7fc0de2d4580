// A batch copied out of JS memory when the call is made, before its job is queued. Holding a reference
// to the typed array would not be enough: JS can detach its ArrayBuffer (postMessage or structuredClone
// with transfer) while the job waits, and the memory is then freed or reused under the compute thread.
// The copy is a memcpy on the main thread, small next to the forward pass it feeds (measured in
// docs/DESIGN.md, Safety rules). Images cross as { pixels: Uint8Array, rows, height, width } (NHWC
// RGB); texts as { inputIds, attentionMask, tokenTypeIds: Int32Array, rows, length } (row-major, padded).
#pragma once

#include "errors.h"
#include "model_input.h"

#include <napi.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace finetuner {

class InputBatch {
 public:
  static InputBatch FromJs(const Napi::Value& value, const char* name) {
    Napi::Env env = value.Env();
    if (!value.IsObject()) throwTypeError(env, std::string(name) + " must be an image or token batch object");
    auto batch = value.As<Napi::Object>();
    InputBatch result;
    result.rows_ = dimension(batch, name, "rows");
    if (batch.Has("pixels")) {
      result.modality_ = Modality::Image;
      int64_t height = dimension(batch, name, "height");
      int64_t width = dimension(batch, name, "width");
      result.addArray(batch, name, "pixels", napi_uint8_array, {result.rows_, height, width, 3}, torch::kUInt8);
    } else if (batch.Has("inputIds")) {
      result.modality_ = Modality::Text;
      int64_t length = dimension(batch, name, "length");
      for (const char* key : {"inputIds", "attentionMask", "tokenTypeIds"}) {
        result.addArray(batch, name, key, napi_int32_array, {result.rows_, length}, torch::kInt32);
      }
    } else {
      throwTypeError(env, std::string(name) + " needs pixels (images) or inputIds (texts)");
    }
    return result;
  }

  int64_t rows() const { return rows_; }

  // The batch's own tensors: valid on any thread, for as long as the caller keeps them.
  ModelInput input() const { return ModelInput{modality_, tensors_}; }

 private:
  static int64_t dimension(const Napi::Object& batch, const char* name, const char* key) {
    Napi::Value value = batch.Get(key);
    double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : 0;
    if (!(number >= 1 && number <= kMaxDimension && std::floor(number) == number)) {
      throwTypeError(batch.Env(), std::string(name) + "." + key + " must be a positive integer");
    }
    return static_cast<int64_t>(number);
  }

  void addArray(const Napi::Object& batch, const char* name, const char* key, napi_typedarray_type type,
                std::vector<int64_t> shape, torch::Dtype dtype) {
    Napi::Env env = batch.Env();
    Napi::Value value = batch.Get(key);
    const char* typeName = type == napi_uint8_array ? "Uint8Array" : "Int32Array";
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) {
      throwTypeError(env, std::string(name) + "." + key + " must be a " + typeName);
    }
    auto array = value.As<Napi::TypedArray>();
    size_t elements = 1;
    bool overflow = false;
    for (auto dim : shape) overflow |= __builtin_mul_overflow(elements, static_cast<size_t>(dim), &elements);
    if (overflow || array.ElementLength() != elements) {
      throwRangeError(env, std::string(name) + "." + key + " has " + std::to_string(array.ElementLength()) +
                               " elements, expected " + (overflow ? std::string("more than fit in memory") : std::to_string(elements)));
    }
    const auto* data = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    auto copy = torch::empty(shape, dtype);
    std::memcpy(copy.data_ptr(), data, array.ByteLength());
    tensors_.push_back(std::move(copy));
  }

  static constexpr double kMaxDimension = 2147483647;  // int32: what the encode methods index with

  Modality modality_ = Modality::Image;
  int64_t rows_ = 0;
  std::vector<torch::Tensor> tensors_;
};

}  // namespace finetuner

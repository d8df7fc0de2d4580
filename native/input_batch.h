// A batch that stays in JS memory: the worker keeps references to the typed arrays and LibTorch reads
// them in place through from_blob, so nothing is copied on the way in. Images cross as
// { pixels: Uint8Array, rows, height, width } (NHWC RGB); texts as
// { inputIds, attentionMask, tokenTypeIds: Int32Array, rows, length } (row-major, padded).
#pragma once

#include "errors.h"
#include "model_input.h"

#include <napi.h>
#include <torch/torch.h>

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

  // Valid while this InputBatch (and so its references to the JS arrays) lives.
  ModelInput input() const {
    ModelInput input{modality_, {}};
    for (const auto& view : views_) {
      input.tensors.push_back(torch::from_blob(view.data, view.shape, view.dtype));
    }
    return input;
  }

 private:
  struct View {
    void* data;
    std::vector<int64_t> shape;
    torch::Dtype dtype;
  };

  static int64_t dimension(const Napi::Object& batch, const char* name, const char* key) {
    Napi::Value value = batch.Get(key);
    if (!value.IsNumber() || value.As<Napi::Number>().Int64Value() <= 0) {
      throwTypeError(batch.Env(), std::string(name) + "." + key + " must be a positive integer");
    }
    return value.As<Napi::Number>().Int64Value();
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
    for (auto dim : shape) elements *= static_cast<size_t>(dim);
    if (array.ElementLength() != elements) {
      throwRangeError(env, std::string(name) + "." + key + " has " + std::to_string(array.ElementLength()) +
                               " elements, expected " + std::to_string(elements));
    }
    auto* data = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    views_.push_back(View{data, std::move(shape), dtype});
    references_.push_back(Napi::Persistent(array.As<Napi::Object>()));
  }

  Modality modality_ = Modality::Image;
  int64_t rows_ = 0;
  std::vector<View> views_;
  std::vector<Napi::ObjectReference> references_;
};

}  // namespace finetuner

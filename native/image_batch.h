// A batch of uint8 NHWC pixels that stays in JS memory: the worker keeps a reference to the typed array
// and LibTorch reads it in place through from_blob, so no copy is made on the way in.
#pragma once

#include "errors.h"

#include <napi.h>
#include <torch/torch.h>

namespace finetuner {

class ImageBatch {
 public:
  static ImageBatch FromJs(const Napi::Value& value) {
    Napi::Env env = value.Env();
    if (!value.IsObject()) throwTypeError(env, "batch must be an object { pixels, rows, height, width }");
    auto batch = value.As<Napi::Object>();
    Napi::Value pixels = batch.Get("pixels");
    if (!pixels.IsTypedArray() || pixels.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throwTypeError(env, "batch.pixels must be a Uint8Array");
    }
    ImageBatch result;
    result.rows_ = dimension(batch, "rows");
    result.height_ = dimension(batch, "height");
    result.width_ = dimension(batch, "width");
    auto array = pixels.As<Napi::Uint8Array>();
    size_t expected = static_cast<size_t>(result.rows_ * result.height_ * result.width_ * 3);
    if (array.ByteLength() != expected) {
      throwRangeError(env, "batch.pixels has " + std::to_string(array.ByteLength()) + " bytes, expected rows * height * width * 3 = " +
                               std::to_string(expected));
    }
    result.data_ = array.Data();
    result.reference_ = Napi::Persistent(array.As<Napi::Object>());
    return result;
  }

  int64_t rows() const { return rows_; }

  // Valid while this ImageBatch (and so its reference to the JS array) lives.
  torch::Tensor tensor() const {
    return torch::from_blob(data_, {rows_, height_, width_, 3}, torch::kUInt8);
  }

 private:
  static int64_t dimension(const Napi::Object& batch, const char* key) {
    Napi::Value value = batch.Get(key);
    if (!value.IsNumber() || value.As<Napi::Number>().Int64Value() <= 0) {
      throwTypeError(batch.Env(), std::string("batch.") + key + " must be a positive integer");
    }
    return value.As<Napi::Number>().Int64Value();
  }

  uint8_t* data_ = nullptr;
  int64_t rows_ = 0, height_ = 0, width_ = 0;
  Napi::ObjectReference reference_;
};

}  // namespace finetuner

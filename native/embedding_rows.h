// Embedding matrices that cross from JS for search and retrieval metrics: a Float32Array of rows x dim,
// copied into a tensor the job owns when the call is made (see input_batch.h for why a reference is not
// enough), then checked and normalised on the compute thread.
#pragma once

#include "errors.h"
#include "row_parallel.h"

#include <napi.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace finetuner {

// A positive integer argument (dim, k) of a search call: the TypeScript facade checks first and names
// the user's option; this guards the raw binding.
inline int64_t positiveIntegerArgument(const Napi::Value& value, const std::string& name) {
  double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : 0;
  if (!(number >= 1 && number <= 2147483647.0 && std::floor(number) == number)) {
    throwRangeError(value.Env(), name + " must be a positive integer");
  }
  return static_cast<int64_t>(number);
}

// A copy of `value` (a Float32Array of whole rows of `dim` floats) as a rows x dim float tensor.
inline torch::Tensor copiedRows(const Napi::Value& value, const std::string& name, int64_t dim) {
  Napi::Env env = value.Env();
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throwTypeError(env, name + " must be a Float32Array");
  }
  auto array = value.As<Napi::Float32Array>();
  const auto length = static_cast<int64_t>(array.ElementLength());
  if (length % dim != 0) {
    throwRangeError(env, name + " has " + std::to_string(length) + " floats, not whole rows of " + std::to_string(dim));
  }
  auto copy = torch::empty({length / dim, dim}, torch::kFloat32);
  if (length) std::memcpy(copy.data_ptr<float>(), array.Data(), static_cast<size_t>(length) * sizeof(float));
  return copy;
}

// A copy of an Int32Array of exactly `count` labels.
inline torch::Tensor copiedLabels(const Napi::Value& value, const std::string& name, int64_t count) {
  Napi::Env env = value.Env();
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throwTypeError(env, name + " must be an Int32Array");
  }
  auto array = value.As<Napi::Int32Array>();
  if (static_cast<int64_t>(array.ElementLength()) != count) {
    throwRangeError(env, name + " has " + std::to_string(array.ElementLength()) + " labels for " + std::to_string(count) + " rows");
  }
  auto copy = torch::empty({count}, torch::kInt32);
  if (count) std::memcpy(copy.data_ptr<int32_t>(), array.Data(), static_cast<size_t>(count) * sizeof(int32_t));
  return copy;
}

// On the compute thread: refuses a row holding NaN or infinity (naming it, numbered from `firstRow`), then
// scales every row to unit length in place. A zero row stays zero, so it scores 0 against everything
// instead of NaN. One pass per row, summing squares in double (squares of large finite floats overflow
// float32), no temporary copy.
inline void normalizeRowsInPlace(torch::Tensor& rows, const std::string& name, int64_t firstRow = 0) {
  const int64_t count = rows.size(0);
  const int64_t dim = rows.size(1);
  float* data = rows.data_ptr<float>();
  std::vector<uint8_t> bad(static_cast<size_t>(count), 0);
  parallelRows(count, 256, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* row = data + r * dim;
      double sum = 0;
      for (int64_t d = 0; d < dim; ++d) sum += static_cast<double>(row[d]) * row[d];
      if (!std::isfinite(sum)) {
        bad[static_cast<size_t>(r)] = 1;
        continue;
      }
      if (sum == 0) continue;
      const double scale = 1.0 / std::sqrt(sum);
      for (int64_t d = 0; d < dim; ++d) row[d] = static_cast<float>(row[d] * scale);
    }
  });
  for (int64_t r = 0; r < count; ++r) {
    if (bad[static_cast<size_t>(r)]) throw std::invalid_argument(name + " row " + std::to_string(firstRow + r) + " holds a NaN or infinite value");
  }
}

// The first row of `rows` (n x dim, float32) that holds NaN or infinity, or -1: a check on the main thread
// where the error must come with the call (SearchIndex.add), before the rows are queued.
inline int64_t firstNonFiniteRow(const torch::Tensor& rows) {
  const float* data = rows.data_ptr<float>();
  const int64_t dim = rows.size(1);
  for (int64_t i = 0; i < rows.numel(); ++i) {
    if (!std::isfinite(data[i])) return i / dim;
  }
  return -1;
}

}  // namespace finetuner

// searchTopK: exact cosine top-k of each query row among the index rows, off the event loop. Both
// matrices are copied when the call is made; on the compute thread they are checked for NaN (naming the
// row) and normalised, then scored a block of queries at a time (cosine_scorer.h) with torch::topk on
// each block, so memory stays bounded whatever the index size. k larger than the index is clamped, and
// the k used comes back with the result.
#pragma once

#include "cosine_scorer.h"
#include "embedding_rows.h"
#include "promise_worker.h"
#include "search_settings.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace finetuner {

class SearchTopKWorker : public PromiseWorker {
 public:
  // searchTopK(queries: Float32Array, index: Float32Array, dim, k, { precision?: 'fp32' | 'bf16', blockRows? }).
  static Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int64_t dim = positiveIntegerArgument(info[2], "searchTopK: dim");
    const int64_t k = positiveIntegerArgument(info[3], "searchTopK: k");
    auto queries = copiedRows(info[0], "searchTopK: queries", dim);
    auto index = copiedRows(info[1], "searchTopK: index", dim);
    if (index.size(0) == 0) throwRangeError(env, "searchTopK: index is empty");
    // Indices cross as int32.
    if (index.size(0) > 2147483647) throwRangeError(env, "searchTopK: index has more than 2^31 - 1 rows");
    const int64_t kUsed = std::min(k, index.size(0));
    auto settings = SearchSettings::FromJs(info[4], "searchTopK");
    auto* worker = new SearchTopKWorker(env, std::move(queries), std::move(index), kUsed, settings);
    worker->Queue();
    return worker->Promise();
  }

 protected:
  void Run() override {
    normalizeRowsInPlace(queries_, "searchTopK: `queries`");
    normalizeRowsInPlace(index_, "searchTopK: `index`");
    CosineScorer scorer(index_, settings_.precision);
    index_ = torch::Tensor();  // the scorer holds what it needs (a bf16 copy on that path)
    const int64_t rows = queries_.size(0);
    indices_ = torch::empty({rows, k_}, torch::kInt32);
    scores_ = torch::empty({rows, k_}, torch::kFloat32);
    const int64_t block = scorer.blockRows(rows, settings_.blockRows);
    auto buffer = torch::empty({std::min(block, std::max<int64_t>(rows, 1)), scorer.rows()}, torch::kFloat32);
    for (int64_t start = 0; start < rows; start += block) {
      const int64_t count = std::min(block, rows - start);
      auto scores = buffer.narrow(0, 0, count);
      scorer.scoreInto(queries_.narrow(0, start, count), scores);
      auto [values, positions] = torch::topk(scores, k_, 1, /*largest=*/true, /*sorted=*/true);
      scores_.narrow(0, start, count).copy_(values);
      indices_.narrow(0, start, count).copy_(positions);
    }
  }

  Napi::Value Result(Napi::Env env) override {
    auto result = Napi::Object::New(env);
    auto indices = Napi::Int32Array::New(env, indices_.numel());
    if (indices_.numel()) std::memcpy(indices.Data(), indices_.data_ptr<int32_t>(), indices_.numel() * sizeof(int32_t));
    auto scores = Napi::Float32Array::New(env, scores_.numel());
    if (scores_.numel()) std::memcpy(scores.Data(), scores_.data_ptr<float>(), scores_.numel() * sizeof(float));
    result.Set("indices", indices);
    result.Set("scores", scores);
    result.Set("rows", static_cast<double>(indices_.size(0)));
    result.Set("k", static_cast<double>(k_));
    return result;
  }

 private:
  SearchTopKWorker(Napi::Env env, torch::Tensor queries, torch::Tensor index, int64_t k, SearchSettings settings)
      : PromiseWorker(env, "finetuner:searchTopK"), queries_(std::move(queries)), index_(std::move(index)), k_(k), settings_(settings) {}

  torch::Tensor queries_;
  torch::Tensor index_;
  int64_t k_;
  SearchSettings settings_;
  torch::Tensor indices_;
  torch::Tensor scores_;
};

}  // namespace finetuner

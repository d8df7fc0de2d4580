// searchTopK: exact cosine top-k of each query row among the index rows, off the event loop. The queries
// are copied when the call is made; the index is either copied too (the binding's searchTopK) or held
// natively (SearchIndex, search_index_rows.h). On the compute thread the rows are checked for NaN
// (naming the row) and normalised, then scored a block of queries at a time (cosine_scorer.h) with
// torch::topk on each block, so memory stays bounded whatever the index size. k larger than the index is
// clamped, and the k used comes back with the result.
#pragma once

#include "cosine_scorer.h"
#include "embedding_rows.h"
#include "promise_worker.h"
#include "search_index_rows.h"
#include "search_settings.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

namespace finetuner {

class SearchTopKWorker : public PromiseWorker {
 public:
  // searchTopK(queries: Float32Array, index: Float32Array, dim, k, { precision?: 'fp32' | 'bf16', blockRows? }).
  static Napi::Value Start(const Napi::CallbackInfo& info) {
    const int64_t dim = positiveIntegerArgument(info[2], "searchTopK: dim");
    auto rows = std::make_shared<SearchIndexRows>(dim, "searchTopK: `index`");
    auto index = copiedRows(info[1], "searchTopK: index", dim);
    if (index.size(0) > 0) rows->append(std::move(index));
    return Start(info.Env(), info[0], rows, info[3], info[4], "searchTopK");
  }

  // A search of `rows` (which the job shares) by the query rows in `queries`.
  static Napi::Value Start(Napi::Env env, const Napi::Value& queries, std::shared_ptr<SearchIndexRows> rows, const Napi::Value& k,
                           const Napi::Value& options, const std::string& caller) {
    const int64_t wanted = positiveIntegerArgument(k, caller + ": k");
    auto copied = copiedRows(queries, caller + ": queries", rows->dim());
    const int64_t indexRows = rows->rows();
    if (indexRows == 0) throwRangeError(env, caller + ": the index is empty");
    // Indices cross as int32.
    if (indexRows > 2147483647) throwRangeError(env, caller + ": the index has more than 2^31 - 1 rows");
    auto settings = SearchSettings::FromJs(options, caller);
    auto* worker = new SearchTopKWorker(env, std::move(copied), std::move(rows), std::min(wanted, indexRows), settings, caller);
    worker->Queue();
    return worker->Promise();
  }

 protected:
  void Run() override {
    normalizeRowsInPlace(queries_, caller_ + ": `queries`");
    CosineScorer scorer(rows_->prepared(settings_.precision), settings_.precision);
    rows_.reset();  // the scorer holds what it needs
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
  SearchTopKWorker(Napi::Env env, torch::Tensor queries, std::shared_ptr<SearchIndexRows> rows, int64_t k, SearchSettings settings,
                   std::string caller)
      : PromiseWorker(env, "finetuner:searchTopK"), queries_(std::move(queries)), rows_(std::move(rows)), k_(k), settings_(settings),
        caller_(std::move(caller)) {}

  torch::Tensor queries_;
  std::shared_ptr<SearchIndexRows> rows_;
  int64_t k_;
  SearchSettings settings_;
  std::string caller_;
  torch::Tensor indices_;
  torch::Tensor scores_;
};

}  // namespace finetuner

// JS class SearchIndex (the raw binding's; lib/embeddingIndex.ts wraps it): rows held natively for
// repeated exact searches. add() copies the new rows (and refuses NaN at once); search() queues a
// SearchTopKWorker that shares the rows, so a search in flight keeps them alive whatever JS does.
#pragma once

#include "search_index_rows.h"

#include <napi.h>

#include <memory>

namespace finetuner {

class SearchIndex : public Napi::ObjectWrap<SearchIndex> {
 public:
  static Napi::Function DefineClass(Napi::Env env);

  // new SearchIndex(dim)
  explicit SearchIndex(const Napi::CallbackInfo& info);

 private:
  // add(rows: Float32Array): whole rows of dim floats, copied now.
  Napi::Value Add(const Napi::CallbackInfo& info);
  // search(queries: Float32Array, k, { precision?, blockRows? }): a promise of { indices, scores, rows, k }.
  Napi::Value Search(const Napi::CallbackInfo& info);
  Napi::Value GetRows(const Napi::CallbackInfo& info);
  Napi::Value GetDim(const Napi::CallbackInfo& info);

  std::shared_ptr<SearchIndexRows> rows_;
};

}  // namespace finetuner

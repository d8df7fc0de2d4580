#include "search_index.h"

#include "search_top_k_worker.h"

namespace finetuner {

Napi::Function SearchIndex::DefineClass(Napi::Env env) {
  return ObjectWrap<SearchIndex>::DefineClass(env, "SearchIndex",
                                              {
                                                  InstanceMethod<&SearchIndex::Add>("add"),
                                                  InstanceMethod<&SearchIndex::Search>("search"),
                                                  InstanceAccessor<&SearchIndex::GetRows>("rows"),
                                                  InstanceAccessor<&SearchIndex::GetDim>("dim"),
                                              });
}

SearchIndex::SearchIndex(const Napi::CallbackInfo& info) : ObjectWrap<SearchIndex>(info) {
  const int64_t dim = positiveIntegerArgument(info[0], "SearchIndex: dim");
  rows_ = std::make_shared<SearchIndexRows>(dim, "SearchIndex: rows");
}

Napi::Value SearchIndex::Add(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto rows = copiedRows(info[0], "SearchIndex.add: rows", rows_->dim());
  const int64_t bad = firstNonFiniteRow(rows);
  if (bad >= 0) throwRangeError(env, "SearchIndex.add: rows row " + std::to_string(bad) + " holds a NaN or infinite value");
  // Indices cross as int32.
  if (rows_->rows() + rows.size(0) > 2147483647) throwRangeError(env, "SearchIndex.add: an index holds at most 2^31 - 1 rows");
  if (rows.size(0) > 0) rows_->append(std::move(rows));
  return env.Undefined();
}

Napi::Value SearchIndex::Search(const Napi::CallbackInfo& info) {
  return SearchTopKWorker::Start(info.Env(), info[0], rows_, info[1], info[2], "SearchIndex.search");
}

Napi::Value SearchIndex::GetRows(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(rows_->rows())); }

Napi::Value SearchIndex::GetDim(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(rows_->dim())); }

}  // namespace finetuner

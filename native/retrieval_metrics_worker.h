// retrievalMetrics: the retrieval metrics of lib/metrics.ts (precision@k, recall@k, hit@k, MRR, nDCG@k,
// mAP; pessimistic ties; queries without a relevant item skipped) computed off the event loop. The
// embeddings and int32 label ids are copied when the call is made; `index` null means the queries are
// their own index (copied once). On the compute thread: NaN check and normalisation, then a block of
// query scores at a time (cosine_scorer.h), each query of the block ranked in parallel (relevant_ranks.h, row_parallel.h).
// Resolves to the sums over the judged queries; the caller averages.
#pragma once

#include "cosine_scorer.h"
#include "embedding_rows.h"
#include "promise_worker.h"
#include "relevant_ranks.h"
#include "row_parallel.h"
#include "search_settings.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace finetuner {

class RetrievalMetricsWorker : public PromiseWorker {
 public:
  // retrievalMetrics(queries: Float32Array, queryLabels: Int32Array, index: Float32Array | null,
  //                  indexLabels: Int32Array | null, dim, k, { excludeSelf?, precision?, blockRows? }).
  static Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string caller = "retrievalMetrics";
    const int64_t dim = positiveIntegerArgument(info[4], caller + ": dim");
    const int64_t k = positiveIntegerArgument(info[5], caller + ": k");
    auto queries = copiedRows(info[0], caller + ": queries", dim);
    auto queryLabels = copiedLabels(info[1], caller + ": queryLabels", queries.size(0));
    const bool self = info[2].IsNull();
    torch::Tensor index, indexLabels;
    if (!self) {
      index = copiedRows(info[2], caller + ": index", dim);
      indexLabels = copiedLabels(info[3], caller + ": indexLabels", index.size(0));
    }
    const int64_t indexRows = self ? queries.size(0) : index.size(0);
    if (indexRows == 0) throwRangeError(env, caller + ": index is empty");
    bool excludeSelf = false;
    if (info[6].IsObject() && !info[6].As<Napi::Object>().Get("excludeSelf").IsUndefined()) {
      Napi::Value value = info[6].As<Napi::Object>().Get("excludeSelf");
      if (!value.IsBoolean()) throwTypeError(env, caller + ": excludeSelf must be a boolean");
      excludeSelf = value.As<Napi::Boolean>().Value();
    }
    if (excludeSelf && indexRows != queries.size(0)) {
      throwRangeError(env, caller + ": excludeSelf needs as many queries as index rows (got " + std::to_string(queries.size(0)) + " and " +
                               std::to_string(indexRows) + ")");
    }
    auto settings = SearchSettings::FromJs(info[6], caller);
    auto* worker = new RetrievalMetricsWorker(env, std::move(queries), std::move(queryLabels), std::move(index), std::move(indexLabels), k,
                                              excludeSelf, settings);
    worker->Queue();
    return worker->Promise();
  }

 protected:
  void Run() override {
    normalizeRowsInPlace(queries_, "computeRetrievalMetrics: `queries.embeddings`");
    const bool self = !index_.defined();
    if (!self) normalizeRowsInPlace(index_, "computeRetrievalMetrics: `index.embeddings`");
    const torch::Tensor& index = self ? queries_ : index_;
    const torch::Tensor& indexLabels = self ? queryLabels_ : indexLabels_;
    CosineScorer scorer(index, settings_.precision);
    if (!self && settings_.precision == ScorePrecision::Bf16) index_ = torch::Tensor();  // the scorer keeps a bf16 copy

    const int64_t rows = queries_.size(0);
    const int64_t count = scorer.rows();
    const int64_t candidates = excludeSelf_ ? count - 1 : count;
    std::vector<double> idealDcg(static_cast<size_t>(std::min(k_, std::max<int64_t>(candidates, 0))) + 1, 0.0);
    for (size_t r = 1; r < idealDcg.size(); ++r) idealDcg[r] = idealDcg[r - 1] + 1.0 / std::log2(static_cast<double>(r) + 1.0);

    const int64_t block = scorer.blockRows(rows, settings_.blockRows);
    auto buffer = torch::empty({std::min(block, std::max<int64_t>(rows, 1)), count}, torch::kFloat32);
    const int32_t* queryLabels = queryLabels_.data_ptr<int32_t>();
    const int32_t* labels = indexLabels.data_ptr<int32_t>();
    std::vector<QueryMetrics> perQuery;
    for (int64_t start = 0; start < rows; start += block) {
      const int64_t blockCount = std::min(block, rows - start);
      auto scores = buffer.narrow(0, 0, blockCount);
      scorer.scoreInto(queries_.narrow(0, start, blockCount), scores);
      const float* blockScores = scores.data_ptr<float>();
      perQuery.assign(static_cast<size_t>(blockCount), QueryMetrics{});
      parallelRows(blockCount, 8, [&](int64_t begin, int64_t end) {
        RelevantRanks ranks(k_, candidates, idealDcg);
        for (int64_t r = begin; r < end; ++r) {
          const int64_t query = start + r;
          perQuery[static_cast<size_t>(r)] = ranks.score(blockScores + r * count, labels, count, queryLabels[query], excludeSelf_ ? query : -1);
        }
      });
      // Summed in query order, so the result does not depend on the thread count.
      for (const auto& metrics : perQuery) add(metrics);
    }
    queryCount_ = rows;
  }

  Napi::Value Result(Napi::Env env) override {
    auto result = Napi::Object::New(env);
    result.Set("queries", static_cast<double>(queryCount_));
    result.Set("skippedQueries", static_cast<double>(skipped_));
    result.Set("excludedSelf", excludeSelf_);
    result.Set("precision", sums_.precision);
    result.Set("recall", sums_.recall);
    result.Set("hit", sums_.hit);
    result.Set("hitAt1", sums_.hitAt1);
    result.Set("reciprocalRank", sums_.reciprocalRank);
    result.Set("ndcg", sums_.ndcg);
    result.Set("averagePrecision", sums_.averagePrecision);
    return result;
  }

 private:
  RetrievalMetricsWorker(Napi::Env env, torch::Tensor queries, torch::Tensor queryLabels, torch::Tensor index, torch::Tensor indexLabels,
                         int64_t k, bool excludeSelf, SearchSettings settings)
      : PromiseWorker(env, "finetuner:retrievalMetrics"), queries_(std::move(queries)), queryLabels_(std::move(queryLabels)),
        index_(std::move(index)), indexLabels_(std::move(indexLabels)), k_(k), excludeSelf_(excludeSelf), settings_(settings) {}

  void add(const QueryMetrics& metrics) {
    if (metrics.skipped) {
      ++skipped_;
      return;
    }
    sums_.precision += metrics.precision;
    sums_.recall += metrics.recall;
    sums_.hit += metrics.hit;
    sums_.hitAt1 += metrics.hitAt1;
    sums_.reciprocalRank += metrics.reciprocalRank;
    sums_.ndcg += metrics.ndcg;
    sums_.averagePrecision += metrics.averagePrecision;
  }

  torch::Tensor queries_;
  torch::Tensor queryLabels_;
  torch::Tensor index_;  // undefined: the queries are the index
  torch::Tensor indexLabels_;
  int64_t k_;
  bool excludeSelf_;
  SearchSettings settings_;
  QueryMetrics sums_;
  int64_t skipped_ = 0;
  int64_t queryCount_ = 0;
};

}  // namespace finetuner

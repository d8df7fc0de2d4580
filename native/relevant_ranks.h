// One query's retrieval metrics from its row of scores, without sorting the whole row. Definitions as in
// lib/metrics.ts: precision@k, recall@k, hit@k, nDCG@k, and MRR and average precision over the full
// ranking; ties rank the irrelevant item first (pessimistic).
//
// Every metric depends only on the ranks of the relevant items. The rank of the i-th best relevant item
// is i plus the number of irrelevant items scoring at least as high as it. So: the R relevant scores are
// sorted (descending); each irrelevant score finds how many relevant scores are strictly above it (p),
// through a bucket index over the relevant scores' range, and counts in ahead[p]; it then ranks before
// relevant items p+1..R, and a prefix sum over ahead gives each relevant item's rank. O(N + R log R) per
// query (a binary search, O(N log R), where the scores' range is too narrow to bucket), scratch of O(R).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

namespace finetuner {

struct QueryMetrics {
  bool skipped = false;  // nothing relevant in the index: no ranking to judge
  double precision = 0, recall = 0, hit = 0, hitAt1 = 0, reciprocalRank = 0, ndcg = 0, averagePrecision = 0;
};

class RelevantRanks {
 public:
  // k: the cut-off; candidates: the items each query ranks (the index, less itself when excluded);
  // idealDcg[r]: DCG of r relevant items at the top, for r up to min(k, candidates).
  RelevantRanks(int64_t k, int64_t candidates, const std::vector<double>& idealDcg)
      : k_(k), candidates_(candidates), idealDcg_(idealDcg) {}

  // scores and labels of the `count` index items; `self`: the position left out of the ranking, or -1.
  QueryMetrics score(const float* scores, const int32_t* labels, int64_t count, int32_t label, int64_t self) {
    relevant_.clear();
    for (int64_t j = 0; j < count; ++j) {
      if (labels[j] == label && j != self) relevant_.push_back(scores[j]);
    }
    QueryMetrics metrics;
    const auto relevantCount = static_cast<int64_t>(relevant_.size());
    if (relevantCount == 0) {
      metrics.skipped = true;
      return metrics;
    }
    std::sort(relevant_.begin(), relevant_.end(), std::greater<float>());
    ahead_.assign(static_cast<size_t>(relevantCount) + 1, 0);
    buildBuckets();
    const float lowest = relevant_.back();
    for (int64_t j = 0; j < count; ++j) {
      if (labels[j] == label || j == self) continue;
      const float s = scores[j];
      if (s < lowest) continue;  // behind every relevant item: counts for none (ahead_[R])
      ++ahead_[static_cast<size_t>(countAbove(s))];
    }
    int64_t irrelevantAhead = 0, hits = 0, firstRank = 0;
    double dcg = 0, precisionSum = 0;
    for (int64_t i = 1; i <= relevantCount; ++i) {
      irrelevantAhead += ahead_[static_cast<size_t>(i - 1)];
      const int64_t rank = i + irrelevantAhead;
      if (i == 1) firstRank = rank;
      precisionSum += static_cast<double>(i) / static_cast<double>(rank);
      if (rank <= k_) {
        ++hits;
        dcg += 1.0 / std::log2(static_cast<double>(rank) + 1.0);
      }
    }
    metrics.precision = static_cast<double>(hits) / static_cast<double>(std::min(k_, candidates_));
    metrics.recall = static_cast<double>(hits) / static_cast<double>(relevantCount);
    metrics.hit = firstRank <= k_ ? 1 : 0;
    metrics.hitAt1 = firstRank == 1 ? 1 : 0;
    metrics.reciprocalRank = 1.0 / static_cast<double>(firstRank);
    metrics.ndcg = dcg / idealDcg_[static_cast<size_t>(std::min(relevantCount, k_))];
    metrics.averagePrecision = precisionSum / static_cast<double>(relevantCount);
    return metrics;
  }

 private:
  // A bucket index over [lowest, highest] relevant score, so that finding an irrelevant score's place
  // costs a multiply and a look-up rather than a binary search (this runs for most of the index, for
  // every query). bucketOf never decreases as the score grows, so a relevant score in a higher bucket
  // than s is above s, and one in a lower bucket is below it. Only those in s's own bucket (about one,
  // with 4 buckets per relevant score) are compared. firstInBucket_[b] is the number of relevant scores in
  // buckets above b, and the descending array's index of the first one in bucket b.
  void buildBuckets() {
    lowest_ = relevant_.back();
    highest_ = relevant_.front();
    const auto count = static_cast<int64_t>(relevant_.size());
    buckets_ = std::clamp<int64_t>(4 * count, 64, 8192);
    scale_ = static_cast<float>(buckets_) / (highest_ - lowest_);
    useBuckets_ = highest_ > lowest_ && std::isfinite(scale_);
    if (!useBuckets_) return;
    firstInBucket_.assign(static_cast<size_t>(buckets_), 0);
    // relevant_ is descending, so its buckets never increase along it: count those above each bucket.
    int64_t index = 0;
    for (int64_t bucket = buckets_ - 1; bucket >= 0; --bucket) {
      firstInBucket_[static_cast<size_t>(bucket)] = index;
      while (index < count && bucketOf(relevant_[static_cast<size_t>(index)]) == bucket) ++index;
    }
  }

  int64_t bucketOf(float score) const {
    return std::min<int64_t>(static_cast<int64_t>((score - lowest_) * scale_), buckets_ - 1);
  }

  // How many relevant scores are strictly above s, for lowest_ <= s (s ties with or beats the rest, so it
  // ranks before them).
  int64_t countAbove(float s) const {
    if (s >= highest_) return 0;
    if (!useBuckets_) {
      return std::lower_bound(relevant_.begin(), relevant_.end(), s, std::greater<float>()) - relevant_.begin();
    }
    int64_t index = firstInBucket_[static_cast<size_t>(bucketOf(s))];
    while (relevant_[static_cast<size_t>(index)] > s) ++index;  // stops at the last: relevant_.back() = lowest_ <= s
    return index;
  }

  int64_t k_;
  int64_t candidates_;
  const std::vector<double>& idealDcg_;
  std::vector<float> relevant_;
  std::vector<int64_t> ahead_;
  std::vector<int64_t> firstInBucket_;
  float lowest_ = 0, highest_ = 0, scale_ = 0;
  int64_t buckets_ = 0;
  bool useBuckets_ = false;
};

}  // namespace finetuner

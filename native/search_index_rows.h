// The rows a search runs against, held natively so that repeated searches neither copy nor normalise
// them again (a 100,000 x 768 index copied per call blocked the event loop for 0.45 s on the test VM).
// Rows arrive on the main thread as copies the store then owns (append); the compute thread folds them in
// at the start of its next search (prepared): checks them for NaN, normalises them and appends them to
// one growing tensor, keeping a bfloat16 copy for bf16 searches until rows are added again. Searches run
// one at a time on the compute thread, so only append and the pending list need the lock.
#pragma once

#include "cosine_scorer.h"
#include "embedding_rows.h"

#include <torch/torch.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace finetuner {

class SearchIndexRows {
 public:
  // `name` names the rows in errors ("searchTopK: `index`").
  SearchIndexRows(int64_t dim, std::string name) : dim_(dim), name_(std::move(name)) {}

  int64_t dim() const { return dim_; }

  // Rows held and pending.
  int64_t rows() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return rows_;
  }

  // Any thread: `rows` (n x dim, float32) now belongs to the store.
  void append(torch::Tensor rows) {
    std::lock_guard<std::mutex> lock(mutex_);
    rows_ += rows.size(0);
    pending_.push_back(std::move(rows));
  }

  // Compute thread: every row appended so far, normalised: float32, or bfloat16 for a bf16 search.
  torch::Tensor prepared(ScorePrecision precision) {
    std::vector<torch::Tensor> pending;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending.swap(pending_);
    }
    try {
      for (auto& rows : pending) fold(rows);
    } catch (...) {
      // Rows that failed the check (and those queued after them) are dropped: later searches still see
      // a valid index of the rows held.
      std::lock_guard<std::mutex> lock(mutex_);
      rows_ = held_;
      for (const auto& waiting : pending_) rows_ += waiting.size(0);
      throw;
    }
    auto held = storage_.defined() ? storage_.narrow(0, 0, held_) : torch::empty({0, dim_}, torch::kFloat32);
    if (precision == ScorePrecision::Fp32) return held;
    if (bf16Rows_ != held_) {
      bf16_ = torch::Tensor();  // the old copy goes before the new one is made
      bf16_ = held.to(torch::kBFloat16);
      bf16Rows_ = held_;
    }
    return bf16_;
  }

 private:
  void fold(torch::Tensor& rows) {
    normalizeRowsInPlace(rows, name_, held_);
    if (!storage_.defined()) {
      storage_ = rows;  // the first rows: adopted, not copied
      held_ = rows.size(0);
      return;
    }
    if (held_ + rows.size(0) > storage_.size(0)) {
      auto grown = torch::empty({std::max(held_ + rows.size(0), 2 * storage_.size(0)), dim_}, torch::kFloat32);
      grown.narrow(0, 0, held_).copy_(storage_.narrow(0, 0, held_));
      storage_ = grown;
    }
    storage_.narrow(0, held_, rows.size(0)).copy_(rows);
    held_ += rows.size(0);
  }

  const int64_t dim_;
  const std::string name_;
  mutable std::mutex mutex_;
  std::vector<torch::Tensor> pending_;
  int64_t rows_ = 0;
  // Compute thread only.
  torch::Tensor storage_;  // capacity x dim; the first held_ rows are the index
  int64_t held_ = 0;
  torch::Tensor bf16_;
  int64_t bf16Rows_ = -1;
};

}  // namespace finetuner

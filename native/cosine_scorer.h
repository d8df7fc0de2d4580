// Cosine scores of query rows against an index, a block of queries at a time, for exact search and the
// retrieval metrics. Rows arrive normalised (embedding_rows.h), so a score is a plain dot product.
//
// Memory stays bounded whatever the index size: callers take blockRows() queries at a time, so one block
// of scores is at most kBlockBytes (256 MB) unless a single row alone is larger.
//
// bf16: the index is rounded to bfloat16 once and kept so (half the memory), each query block is rounded
// too, and the products are accumulated in float32 into float32 scores, which is what bf16 GEMMs do
// inside. The multiplication itself runs as a float32 GEMM over index chunks widened back to float: on CPUs
// without bf16 instructions LibTorch's bf16 matmul falls back to a scalar loop (256 x 20,000 x 768 took
// 6.3 s against 0.15 s in float32 on the AVX2 test machine), and a bf16 GEMM's output would also round
// every score to 8 bits, turning near-ties into ties.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace finetuner {

enum class ScorePrecision { Fp32, Bf16 };

inline ScorePrecision scorePrecisionNamed(const std::string& name) {
  if (name == "fp32") return ScorePrecision::Fp32;
  if (name == "bf16") return ScorePrecision::Bf16;
  throw std::invalid_argument("precision must be 'fp32' or 'bf16', got '" + name + "'");
}

class CosineScorer {
 public:
  static constexpr int64_t kBlockBytes = int64_t{256} << 20;
  // Index rows widened to float32 at a time on the bf16 path.
  static constexpr int64_t kWidenBytes = int64_t{32} << 20;

  // `index`: normalised rows x dim, float32 (not changed), or already bfloat16 for the bf16 path (a
  // float32 index is rounded to a bf16 copy there).
  CosineScorer(const torch::Tensor& index, ScorePrecision precision) : precision_(precision) {
    index_ = precision == ScorePrecision::Bf16 ? index.to(torch::kBFloat16) : index.to(torch::kFloat32);
  }

  int64_t rows() const { return index_.size(0); }

  // Query rows per block: `requested` when positive (tests force small blocks), else as many as keep one
  // block of scores within kBlockBytes.
  int64_t blockRows(int64_t queries, int64_t requested) const {
    int64_t rows = requested > 0 ? requested : kBlockBytes / (static_cast<int64_t>(sizeof(float)) * std::max<int64_t>(1, index_.size(0)));
    return std::clamp<int64_t>(rows, 1, std::max<int64_t>(1, queries));
  }

  // Scores of normalised `queries` (rows x dim, float32) against every index row, into `out` (rows x
  // index rows, float32, contiguous).
  void scoreInto(const torch::Tensor& queries, torch::Tensor& out) const {
    if (precision_ == ScorePrecision::Fp32) {
      torch::mm_out(out, queries, index_.t());
      return;
    }
    auto rounded = queries.to(torch::kBFloat16).to(torch::kFloat32);
    const int64_t chunk = std::max<int64_t>(1, kWidenBytes / (static_cast<int64_t>(sizeof(float)) * std::max<int64_t>(1, index_.size(1))));
    for (int64_t start = 0; start < index_.size(0); start += chunk) {
      const int64_t count = std::min(chunk, index_.size(0) - start);
      auto widened = index_.narrow(0, start, count).to(torch::kFloat32);
      out.narrow(1, start, count).copy_(torch::mm(rounded, widened.t()));
    }
  }

 private:
  ScorePrecision precision_;
  torch::Tensor index_;
};

}  // namespace finetuner

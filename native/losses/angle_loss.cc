// AnglELoss (Li and Li 2023, "AnglE-optimized text embeddings"), as sentence-transformers defines it:
// CoSENT's ranking (cosent_ranking.h, scale 20 by default) on the pairs' normalised angle difference in
// complex space instead of their cosine, whose gradient vanishes near +-1. Each embedding's first half is
// the real part and its second half the imaginary part, so the width must be even. Inputs: first,
// second; targets: scores.
#include "cosent_ranking.h"
#include "loss_registry.h"

namespace finetuner {
namespace {

// sentence-transformers' pairwise_angle_sim: |sum of (re, im) of (a + bi) / (c + di)|, the quotient
// scaled by |c + di| / |a + bi|.
torch::Tensor pairwiseAngleSimilarity(const torch::Tensor& x, const torch::Tensor& y) {
  auto xParts = x.chunk(2, 1);
  auto yParts = y.chunk(2, 1);
  const auto& a = xParts[0];
  const auto& b = xParts[1];
  const auto& c = yParts[0];
  const auto& d = yParts[1];
  auto z = (c * c + d * d).sum(1, true);
  auto re = (a * c + b * d) / z;
  auto im = (b * c - a * d) / z;
  auto dz = (a * a + b * b).sum(1, true).sqrt();
  auto dw = (c * c + d * d).sum(1, true).sqrt();
  re = re / (dz / dw);
  im = im / (dz / dw);
  return torch::cat({re, im}, 1).sum(1).abs();
}

class AnglELoss : public Loss {
 public:
  explicit AnglELoss(const LossOptions& options) : scale_(options.number("scale", 20.0)) {
    TORCH_CHECK(scale_ > 0, "AnglELoss: scale must be positive, got ", scale_);
  }

  LossValue compute(const LossBatch& batch) override {
    auto [first, second] = scoredPairs(batch, "AnglELoss");
    TORCH_CHECK(first.size(1) % 2 == 0 && second.size(1) == first.size(1),
                "AnglELoss needs embeddings of an even width (real and imaginary halves), got ", first.size(1));
    return {cosentRanking(pairwiseAngleSimilarity(first, second), batch.targets, scale_), first.size(0)};
  }

 private:
  double scale_;
};

const LossRegistration kRegistration("AnglELoss", [](const LossOptions& options, const LossContext&) {
  return std::make_unique<AnglELoss>(options);
});

}  // namespace
}  // namespace finetuner

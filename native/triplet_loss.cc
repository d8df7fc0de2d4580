#include "triplet_loss.h"

#include <limits>

namespace finetuner {
namespace {

// Euclidean distances with a clamp before the square root: the gradient of sqrt at the zero diagonal
// would otherwise be infinite and poison the whole batch with NaNs.
torch::Tensor pairwiseDistances(const torch::Tensor& x) {
  auto squaredNorms = (x * x).sum(1);
  auto squared = squaredNorms.unsqueeze(1) + squaredNorms.unsqueeze(0) - 2.0 * torch::matmul(x, x.t());
  return squared.clamp_min(1e-12).sqrt();
}

constexpr double kInfinity = std::numeric_limits<double>::infinity();

}  // namespace

Miner parseMiner(const std::string& name) {
  if (name == "batch-hard" || name == "hard") return Miner::BatchHard;
  if (name == "semi-hard" || name == "semihard") return Miner::SemiHard;
  if (name == "all") return Miner::All;
  TORCH_CHECK(false, "unknown miner '", name, "': use batch-hard, semi-hard or all");
}

TripletLossResult TripletMarginLoss::operator()(const torch::Tensor& embeddings,
                                                const torch::Tensor& labels) const {
  TORCH_CHECK(embeddings.dim() == 2, "embeddings must be 2-D");
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == embeddings.size(0), "one label per row is needed");
  const auto n = embeddings.size(0);
  auto distances = pairwiseDistances(embeddings.to(torch::kFloat32));
  auto labelsOnDevice = labels.to(embeddings.device());
  auto same = labelsOnDevice.unsqueeze(1).eq(labelsOnDevice.unsqueeze(0));
  auto eye = torch::eye(n, torch::TensorOptions().dtype(torch::kBool).device(embeddings.device()));
  auto positive = same.logical_and(eye.logical_not());
  auto negative = same.logical_not();

  TripletLossResult result;
  torch::Tensor violations;  // hinge values of the mined triplets
  if (miner_ == Miner::BatchHard) {
    auto hardestPositive = distances.masked_fill(positive.logical_not(), -kInfinity).amax(1);
    auto hardestNegative = distances.masked_fill(negative.logical_not(), kInfinity).amin(1);
    auto valid = positive.any(1).logical_and(negative.any(1));
    violations = torch::relu(hardestPositive - hardestNegative + margin_).masked_select(valid);
  } else {
    // Anchor x positive x negative cube; batches are small (tens of rows), so n^3 is cheap.
    auto ap = distances.unsqueeze(2);
    auto an = distances.unsqueeze(1);
    auto triplets = positive.unsqueeze(2).logical_and(negative.unsqueeze(1));
    if (miner_ == Miner::SemiHard) {
      auto detachedAp = ap.detach();
      auto detachedAn = an.detach();
      auto semiHard = triplets.logical_and(detachedAn > detachedAp)
                          .logical_and(detachedAn < detachedAp + margin_);
      auto nearest = an.expand({n, n, n}).masked_fill(semiHard.logical_not(), kInfinity).amin(2);
      auto valid = semiHard.any(2);
      violations = torch::relu(distances - nearest + margin_).masked_select(valid);
    } else {
      auto hinge = torch::relu(ap - an + margin_);
      auto valid = triplets.logical_and(hinge.detach() > 0);
      violations = hinge.masked_select(valid);
    }
  }
  result.triplets = violations.numel();
  // With no mined triplet the loss is a zero that still depends on the embeddings, so backward works
  // and simply produces zero gradients.
  result.loss = result.triplets > 0 ? violations.mean() : embeddings.sum() * 0.0;
  return result;
}

}  // namespace finetuner

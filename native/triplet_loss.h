// TripletMarginLoss with an online miner, as the original finetuner used for labelled data
// (pytorch-metric-learning's TripletMarginLoss + miner): triplets are mined inside each batch that the
// class sampler built, on detached distances, and the loss is taken on the differentiable ones.
#pragma once

#include <torch/torch.h>

#include <string>

namespace finetuner {

enum class Miner {
  BatchHard,  // per anchor: the farthest positive and the nearest negative
  SemiHard,   // per positive pair: the nearest negative that is still farther than the positive
  All,        // every valid triplet that violates the margin
};

Miner parseMiner(const std::string& name);

struct TripletLossResult {
  torch::Tensor loss;  // scalar; zero (still attached to the graph) when no triplet was mined
  int64_t triplets = 0;
};

class TripletMarginLoss {
 public:
  TripletMarginLoss(double margin, Miner miner) : margin_(margin), miner_(miner) {}
  TripletLossResult operator()(const torch::Tensor& embeddings, const torch::Tensor& labels) const;

 private:
  double margin_;
  Miner miner_;
};

}  // namespace finetuner

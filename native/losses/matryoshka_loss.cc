// MatryoshkaLoss, as sentence-transformers defines it: the wrapped loss on the embeddings truncated to
// each of matryoshkaDims and L2-normalised again, weighted by matryoshkaWeights (default all 1) and
// summed, so that the leading dims of an embedding make a good embedding on their own. The wrapper
// passes the wrapped loss's GradCache mini-batch, parameters and afterStep through, so it also wraps
// CachedMultipleNegativesRankingLoss (truncating the cached embeddings, as sentence-transformers'
// CachedLossDecorator does).
#include "matryoshka_loss.h"

#include "distances.h"

#include <cmath>
#include <set>

namespace finetuner {
namespace {

class MatryoshkaLoss : public Loss {
 public:
  MatryoshkaLoss(std::unique_ptr<Loss> inner, std::vector<int64_t> dims, std::vector<double> weights)
      : inner_(std::move(inner)), dims_(std::move(dims)), weights_(std::move(weights)) {}

  LossValue compute(const LossBatch& batch) override {
    LossValue total;
    for (size_t i = 0; i < dims_.size(); ++i) {
      LossBatch truncated;
      truncated.modalities = batch.modalities;
      truncated.targets = batch.targets;
      for (const auto& embedding : batch.embeddings) {
        TORCH_CHECK(embedding.size(1) >= dims_[i], "MatryoshkaLoss: matryoshkaDims holds ", dims_[i],
                    ", more than the embedding width ", embedding.size(1));
        truncated.embeddings.push_back(unitRows(embedding.slice(1, 0, dims_[i])));
      }
      auto value = inner_->compute(truncated);
      auto weighted = value.loss * weights_[i];
      total.loss = total.loss.defined() ? total.loss + weighted : weighted;
      total.examples = std::max(total.examples, value.examples);
    }
    return total;
  }

  void afterStep() override { inner_->afterStep(); }
  std::vector<std::pair<std::string, torch::Tensor>> parameters() override { return inner_->parameters(); }
  int64_t cachedMiniBatch() const override { return inner_->cachedMiniBatch(); }
  double learningRate() const override { return inner_->learningRate(); }

 private:
  std::unique_ptr<Loss> inner_;
  std::vector<int64_t> dims_;
  std::vector<double> weights_;
};

}  // namespace

const std::vector<std::string>& matryoshkaOptionNames() {
  static const std::vector<std::string> names{"matryoshkaDims", "matryoshkaWeights"};
  return names;
}

std::unique_ptr<Loss> withMatryoshka(std::unique_ptr<Loss> inner, const LossOptions& options, const LossContext& context) {
  TORCH_CHECK(options.has("matryoshkaDims") || !options.has("matryoshkaWeights"), "matryoshkaWeights needs matryoshkaDims");
  if (!options.has("matryoshkaDims")) return inner;
  auto given = options.numbers("matryoshkaDims", {});
  TORCH_CHECK(!given.empty(), "matryoshkaDims must hold at least one dim");
  std::vector<int64_t> dims;
  std::set<int64_t> seen;
  for (double dim : given) {
    TORCH_CHECK(dim >= 1 && std::floor(dim) == dim, "matryoshkaDims must hold positive integers, got ", dim);
    TORCH_CHECK(context.outputDim <= 0 || dim <= context.outputDim, "matryoshkaDims holds ", static_cast<int64_t>(dim),
                ", more than the model's embedding width ", context.outputDim);
    TORCH_CHECK(seen.insert(static_cast<int64_t>(dim)).second, "matryoshkaDims holds ", static_cast<int64_t>(dim), " twice");
    dims.push_back(static_cast<int64_t>(dim));
  }
  auto weights = options.numbers("matryoshkaWeights", std::vector<double>(dims.size(), 1.0));
  TORCH_CHECK(weights.size() == dims.size(), "matryoshkaWeights needs one weight per dim of matryoshkaDims (",
              dims.size(), "), got ", weights.size());
  for (double weight : weights) TORCH_CHECK(std::isfinite(weight) && weight > 0, "matryoshkaWeights must be positive numbers, got ", weight);
  return std::make_unique<MatryoshkaLoss>(std::move(inner), std::move(dims), std::move(weights));
}

}  // namespace finetuner

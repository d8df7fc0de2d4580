// Losses for text pairs, as sentence-transformers defines them (the original finetuner used them):
// MultipleNegativesRankingLoss for (query, document[, hard negative]) pairs and CosineSimilarityLoss for
// pairs with a similarity score in [0, 1].
#pragma once

#include <torch/torch.h>

namespace finetuner {

// Cross-entropy of each query against every document in the batch (its own is the target), on cosine
// similarities times `scale`. Rows of the same group (the same query with several documents) are not
// negatives of each other. `negatives` may be undefined.
torch::Tensor multipleNegativesRankingLoss(const torch::Tensor& queries, const torch::Tensor& documents,
                                           const torch::Tensor& negatives, const torch::Tensor& groups,
                                           double scale);

// Mean squared error between cos(first, second) and the target score.
torch::Tensor cosineSimilarityLoss(const torch::Tensor& first, const torch::Tensor& second,
                                   const torch::Tensor& scores);

}  // namespace finetuner

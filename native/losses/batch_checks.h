// Checks a loss makes on the batch it is given, with messages that name the loss. The TypeScript tasks
// build batches that pass them; these guard the raw binding.
#pragma once

#include "loss.h"

#include <string>

namespace finetuner {

inline void requireInputs(const LossBatch& batch, const char* loss, size_t least, size_t most, const char* expected) {
  TORCH_CHECK(batch.embeddings.size() >= least && batch.embeddings.size() <= most, loss, " takes ", expected,
              " (got ", batch.embeddings.size(), " input batches)");
}

// Labels or group ids: one int32 per row, crossed as an Int32Array.
inline void requireIdTargets(const LossBatch& batch, const char* loss, const char* what) {
  TORCH_CHECK(batch.targets.scalar_type() == torch::kLong, loss, " takes ", what, " (an Int32Array), not scores");
}

// Scores: one float per row, crossed as a Float32Array.
inline void requireScoreTargets(const LossBatch& batch, const char* loss) {
  TORCH_CHECK(batch.targets.is_floating_point(), loss, " takes scores (a Float32Array)");
}

}  // namespace finetuner

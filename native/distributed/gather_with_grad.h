// The global batch of a data-parallel step: every rank's embeddings, concatenated in rank order, with
// gradients flowing back to this rank's rows (open_clip's gather_with_grad, torch.distributed.nn's
// all_gather). Forward all-gathers; backward sums the gathered gradient over the ranks and keeps this
// rank's slice. Every rank computes the same loss over the same global batch, so the sum is world size
// times the gradient of the local rows; averaging the parameter gradients afterwards (ProcessGroup::
// allReduce with average) divides it out again, and a parameter the loss alone uses (CLIP's
// temperature, ArcFace's class weights), whose gradient is already whole on every rank, is averaged
// to itself. Together: 2 ranks of B rows update exactly as 1 rank of 2B.
#pragma once

#include "distributed/process_group.h"

#include <torch/torch.h>

namespace finetuner {

torch::Tensor gatherWithGrad(const torch::Tensor& local, ProcessGroup& group);

}  // namespace finetuner

#include "distributed/gather_with_grad.h"

namespace finetuner {
namespace {

class GatherRows : public torch::autograd::Function<GatherRows> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& local,
                               ProcessGroup* group) {
    int64_t offset = 0;
    auto gathered = group->allGatherRows(local.detach(), &offset, "all-gather of embeddings");
    // The group outlives the step (the training step holds it), so a raw pointer is safe here.
    context->saved_data["group"] = reinterpret_cast<int64_t>(group);
    context->saved_data["offset"] = offset;
    context->saved_data["rows"] = local.size(0);
    return gathered;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    auto* group = reinterpret_cast<ProcessGroup*>(context->saved_data["group"].toInt());
    auto gradient = gradients[0].contiguous().clone();
    group->allReduce({gradient}, /*average=*/false, "all-reduce of embedding gradients");
    auto local = gradient.narrow(0, context->saved_data["offset"].toInt(), context->saved_data["rows"].toInt());
    return {local, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor gatherWithGrad(const torch::Tensor& local, ProcessGroup& group) {
  return GatherRows::apply(local, &group);
}

}  // namespace finetuner

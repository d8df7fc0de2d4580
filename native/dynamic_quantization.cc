#include "dynamic_quantization.h"

#include <ATen/Context.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/torch.h>

#include <mutex>

namespace finetuner {
namespace {

// The quantized engine is process-wide in LibTorch (as torch.backends.quantized.engine is in Python);
// oneDNN is the one with AVX-512 int8 kernels in this LibTorch (FBGEMM is not built into Debian's).
void selectQuantizedEngine() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto& context = at::globalContext();
    const auto& engines = context.supportedQEngines();
    for (auto engine : {at::QEngine::ONEDNN, at::QEngine::FBGEMM, at::QEngine::QNNPACK}) {
      if (std::find(engines.begin(), engines.end(), engine) != engines.end()) {
        context.setQEngine(engine);
        return;
      }
    }
  });
  TORCH_CHECK(at::globalContext().qEngine() != at::QEngine::NoQEngine,
              "int8: this LibTorch has no quantized engine (oneDNN, FBGEMM or QNNPACK) for this CPU; use fp32 or bf16");
}

// The float weight (and bias) of a linear node, when both are constants of the frozen graph.
bool constantLinear(torch::jit::Node* node, at::Tensor& weight, c10::optional<at::Tensor>& bias) {
  auto weightValue = torch::jit::toIValue(node->input(1));
  if (!weightValue || !weightValue->isTensor()) return false;
  weight = weightValue->toTensor();
  if (weight.dim() != 2 || weight.scalar_type() != at::kFloat || weight.device().is_cuda()) return false;
  auto biasValue = torch::jit::toIValue(node->input(2));
  if (!biasValue) return false;
  if (biasValue->isNone()) {
    bias = c10::nullopt;
  } else if (biasValue->isTensor()) {
    bias = biasValue->toTensor();
  } else {
    return false;
  }
  return true;
}

// quantized::linear_prepack(int8 weight, bias): the packed weight as an opaque TorchScript object.
c10::IValue prepack(const at::Tensor& weight, const c10::optional<at::Tensor>& bias) {
  // Symmetric per-row scales, as PyTorch's per-channel weight observer computes them for qint8.
  auto scales = (weight.abs().amax(1).clamp_min(1e-8) / 127.0).to(at::kDouble);
  auto zeroPoints = at::zeros({weight.size(0)}, at::kLong);
  auto quantized = at::quantize_per_channel(weight.contiguous(), scales, zeroPoints, 0, at::kQInt8);
  static const auto op = c10::Dispatcher::singleton().findSchemaOrThrow("quantized::linear_prepack", "");
  torch::jit::Stack stack{quantized, bias};
  op.callBoxed(&stack);
  return stack.at(0);
}

int64_t quantizeBlock(torch::jit::Block* block, torch::jit::Graph& graph) {
  static const auto linear = c10::Symbol::fromQualString("aten::linear");
  static const auto linearDynamic = c10::Symbol::fromQualString("quantized::linear_dynamic");
  int64_t count = 0;
  std::vector<torch::jit::Node*> linears;
  for (auto* node : block->nodes()) {
    for (auto* inner : node->blocks()) count += quantizeBlock(inner, graph);
    if (node->kind() == linear) linears.push_back(node);
  }
  for (auto* node : linears) {
    at::Tensor weight;
    c10::optional<at::Tensor> bias;
    if (!constantLinear(node, weight, bias)) continue;
    torch::jit::WithInsertPoint insertHere(node);
    auto* packed = graph.insertConstant(prepack(weight, bias));
    auto* reduceRange = graph.insertConstant(true);
    auto* output = graph.insert(linearDynamic, {node->input(0), packed, reduceRange});
    output->setType(node->output()->type());
    node->output()->replaceAllUsesWith(output);
    node->destroy();
    ++count;
  }
  return count;
}

}  // namespace

int64_t quantizeLinearLayers(torch::jit::Module& frozen, const std::vector<std::string>& methods) {
  selectQuantizedEngine();
  int64_t count = 0;
  for (const auto& name : methods) {
    auto graph = frozen.get_method(name).graph();
    count += quantizeBlock(graph->block(), *graph);
    // The float weights the linears held are now unused constants.
    torch::jit::EliminateDeadCode(graph);
  }
  return count;
}

}  // namespace finetuner

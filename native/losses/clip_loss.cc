// CLIP's contrastive loss (Radford et al. 2021; open_clip's ClipLoss): symmetric cross-entropy over the
// in-batch text-image similarity matrix, scaled by the learned temperature exp(logit_scale), which the
// model holds (clip.logit_scale) and the optimizer trains with it. Inputs: texts, images (row i of each
// a matching pair, already L2-normalised); targets: group ids. Rows of the same group (the same caption
// on several images) match each other too, so they are left out of each other's softmax instead of
// being pushed apart as negatives. No options.
#include "batch_checks.h"
#include "distances.h"
#include "loss_registry.h"

#include <limits>

namespace finetuner {
namespace {

// Largest temperature CLIP allows: logit_scale is clamped to [0, ln 100] after every step, as OpenAI
// and open_clip do, so the logits cannot grow without bound.
constexpr double kMaxLogitScale = 4.605170185988092;  // ln(100)
// Where a CLIP embedding model holds its temperature (native/modalities/text_image_modality.cc wraps the
// exported CLIP as the child "clip").
constexpr const char* kLogitScaleParameter = "clip.logit_scale";

class CLIPLoss : public Loss {
 public:
  explicit CLIPLoss(torch::Tensor logitScale) : logitScale_(std::move(logitScale)) {}

  LossValue compute(const LossBatch& batch) override {
    requireInputs(batch, "CLIPLoss", 2, 2, "a token batch and an image batch");
    TORCH_CHECK(batch.modalities[0] == Modality::Text && batch.modalities[1] == Modality::Image,
                "CLIPLoss takes a token batch and an image batch, in that order");
    requireIdTargets(batch, "CLIPLoss", "group ids");
    const auto& texts = batch.embeddings[0];
    const auto& images = batch.embeddings[1];
    const auto n = texts.size(0);
    TORCH_CHECK(images.size(0) == n, "one image per text is needed (got ", n, " texts and ", images.size(0), " images)");
    TORCH_CHECK(batch.targets.size(0) == n, "one group id per pair is needed");
    TORCH_CHECK(n >= 2, "the contrastive loss needs at least 2 pairs in a batch (in-batch negatives)");
    auto logits = logitScale_.exp() * torch::matmul(images.to(torch::kFloat32), texts.to(torch::kFloat32).t());
    // Symmetric in i and j, so the same mask serves both directions.
    auto excluded = sameLabel(batch.targets, logits.device()).logical_and(identityMask(n, logits.device()).logical_not());
    logits = logits.masked_fill(excluded, -std::numeric_limits<float>::infinity());
    auto targets = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(logits.device()));
    auto imageToText = torch::nn::functional::cross_entropy(logits, targets);
    auto textToImage = torch::nn::functional::cross_entropy(logits.t(), targets);
    return {(imageToText + textToImage) / 2, n};
  }

  void afterStep() override { logitScale_.clamp_(0.0, kMaxLogitScale); }

 private:
  torch::Tensor logitScale_;
};

const LossRegistration kRegistration("CLIPLoss", [](const LossOptions&, const LossContext& context) {
  TORCH_CHECK(context.modality == Modality::TextImage, "CLIPLoss is for CLIP (text-to-image) models");
  auto logitScale = context.modelParameter(kLogitScaleParameter);
  TORCH_CHECK(logitScale.defined(), "CLIPLoss needs the model's ", kLogitScaleParameter, " parameter (a CLIP model)");
  return std::make_unique<CLIPLoss>(std::move(logitScale));
});

}  // namespace
}  // namespace finetuner

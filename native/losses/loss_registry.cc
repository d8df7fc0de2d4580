#include "loss_registry.h"

namespace finetuner {

NamedRegistry<LossFactory>& lossRegistry() {
  // Built on first use, so registrars in other files may run before or after this file's statics.
  static NamedRegistry<LossFactory> registry("loss");
  return registry;
}

std::unique_ptr<Loss> makeLoss(const std::string& name, const LossOptions& options, const LossContext& context) {
  auto loss = lossRegistry().get(name)(options, context);
  auto unread = options.unread();
  if (!unread.empty()) {
    std::string names;
    for (const auto& option : unread) names += (names.empty() ? "'" : ", '") + option + "'";
    TORCH_CHECK(false, name, " has no option ", names);
  }
  return loss;
}

}  // namespace finetuner

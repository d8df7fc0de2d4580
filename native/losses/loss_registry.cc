#include "loss_registry.h"

#include "matryoshka_loss.h"

namespace finetuner {

NamedRegistry<LossFactory>& lossRegistry() {
  // Built on first use, so registrars in other files may run before or after this file's statics.
  static NamedRegistry<LossFactory> registry("loss");
  return registry;
}

namespace {

void refuseUnread(const std::string& name, const LossOptions& options) {
  auto unread = options.unread();
  if (!unread.empty()) {
    std::string names;
    for (const auto& option : unread) names += (names.empty() ? "'" : ", '") + option + "'";
    TORCH_CHECK(false, name, " has no option ", names);
  }
}

}  // namespace

std::unique_ptr<Loss> makeLoss(const std::string& name, const LossOptions& options, const LossContext& context) {
  // The wrappers' options (MatryoshkaLoss's) go to the wrapper, the rest to the loss.
  auto own = options.without(matryoshkaOptionNames());
  auto loss = lossRegistry().get(name)(own, context);
  refuseUnread(name, own);
  return withMatryoshka(std::move(loss), options, context);
}

}  // namespace finetuner

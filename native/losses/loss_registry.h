// Losses by name. Each loss file registers itself with a static LossRegistration; makeLoss builds one.
#pragma once

#include "loss.h"
#include "named_registry.h"

namespace finetuner {

NamedRegistry<LossFactory>& lossRegistry();

// Builds `name` with `options`; an option the loss (or its miner) did not read is an error.
std::unique_ptr<Loss> makeLoss(const std::string& name, const LossOptions& options, const LossContext& context);

struct LossRegistration {
  LossRegistration(const char* name, LossFactory factory) { lossRegistry().add(name, std::move(factory)); }
};

}  // namespace finetuner

// Miners by name. Each miner file registers itself with a static MinerRegistration.
#pragma once

#include "miner.h"
#include "named_registry.h"

#include <string>

namespace finetuner {

NamedRegistry<MinerFactory>& minerRegistry();

std::unique_ptr<Miner> makeMiner(const std::string& name, const LossOptions& options);

struct MinerRegistration {
  MinerRegistration(const char* name, MinerFactory factory) { minerRegistry().add(name, std::move(factory)); }
};

}  // namespace finetuner

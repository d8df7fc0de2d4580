// Miners by name. Each miner file registers itself with a static MinerRegistration.
#pragma once

#include "miner.h"
#include "named_registry.h"

#include <string>

namespace finetuner {

NamedRegistry<MinerFactory>& minerRegistry();

// "none": no miner; the loss takes every pair or triplet of the batch (PML's default without a miner).
constexpr const char* kNoMiner = "none";

// The miner `name` with its options, or nullptr for "none".
std::unique_ptr<Miner> makeMiner(const std::string& name, const LossOptions& options);

struct MinerRegistration {
  MinerRegistration(const char* name, MinerFactory factory) { minerRegistry().add(name, std::move(factory)); }
};

}  // namespace finetuner

#include "miner_registry.h"

namespace finetuner {

NamedRegistry<MinerFactory>& minerRegistry() {
  // Built on first use, so registrars in other files may run before or after this file's statics.
  static NamedRegistry<MinerFactory> registry("miner");
  return registry;
}

std::unique_ptr<Miner> makeMiner(const std::string& name, const LossOptions& options) {
  if (name == kNoMiner) return nullptr;
  return minerRegistry().get(name)(options);
}

}  // namespace finetuner

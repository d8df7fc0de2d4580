// A table of factories by name, filled at load time by the static registrars of each loss or miner file
// (losses/*.cc, miners/*.cc). Every .cc of the addon is linked into one shared library as an object
// file (CMakeLists.txt), never through a static archive, so no registrar is dropped by the linker; the
// registries' names are checked against the TypeScript descriptors by test/losses.test.ts.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace finetuner {

template <typename Factory>
class NamedRegistry {
 public:
  // `kind` names what is registered ("loss", "miner") in error messages.
  explicit NamedRegistry(const char* kind) : kind_(kind) {}

  // Runs during static initialisation, where an exception would abort the process: a second factory
  // under one name is remembered and reported by get() instead.
  void add(const std::string& name, Factory factory) {
    if (!factories_.emplace(name, std::move(factory)).second) duplicates_.push_back(name);
  }

  bool has(const std::string& name) const { return factories_.count(name) > 0; }

  const Factory& get(const std::string& name) const {
    TORCH_CHECK(duplicates_.empty(), "the ", kind_, " '", duplicates_.front(), "' is registered twice");
    auto found = factories_.find(name);
    TORCH_CHECK(found != factories_.end(), "unknown ", kind_, " '", name, "': use ", joinedNames());
    return found->second;
  }

  // Sorted by name.
  std::vector<std::string> names() const {
    std::vector<std::string> result;
    for (const auto& entry : factories_) result.push_back(entry.first);
    return result;
  }

  std::string joinedNames() const {
    std::string joined;
    for (const auto& entry : factories_) joined += (joined.empty() ? "" : ", ") + entry.first;
    return joined;
  }

 private:
  const char* kind_;
  std::map<std::string, Factory> factories_;
  std::vector<std::string> duplicates_;
};

}  // namespace finetuner

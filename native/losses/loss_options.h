// The options of one loss (and of its miner) as they cross from JS: named numbers and strings, read by
// each loss with its own defaults. The TypeScript descriptors (lib/losses/) check ranges and name the
// user's option; what reaches here unread after the loss is built is refused, so a misspelt option never
// silently falls back to a default.
#pragma once

#include <torch/torch.h>

#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace finetuner {

class LossOptions {
 public:
  using Value = std::variant<double, std::string>;

  void set(const std::string& name, Value value) { values_[name] = std::move(value); }

  double number(const std::string& name, double fallback) const {
    auto found = values_.find(name);
    if (found == values_.end()) return fallback;
    read_.insert(name);
    TORCH_CHECK(std::holds_alternative<double>(found->second), "loss option '", name, "' must be a number");
    return std::get<double>(found->second);
  }

  std::string string(const std::string& name, const std::string& fallback) const {
    auto found = values_.find(name);
    if (found == values_.end()) return fallback;
    read_.insert(name);
    TORCH_CHECK(std::holds_alternative<std::string>(found->second), "loss option '", name, "' must be a string");
    return std::get<std::string>(found->second);
  }

  // Options given that nothing has read.
  std::vector<std::string> unread() const {
    std::vector<std::string> names;
    for (const auto& entry : values_) {
      if (!read_.count(entry.first)) names.push_back(entry.first);
    }
    return names;
  }

  bool operator==(const LossOptions& other) const { return values_ == other.values_; }
  bool operator!=(const LossOptions& other) const { return !(*this == other); }

 private:
  std::map<std::string, Value> values_;
  mutable std::set<std::string> read_;
};

}  // namespace finetuner

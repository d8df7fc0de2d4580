// The options of one loss (and of its miner) as they cross from JS: named numbers, strings and lists of
// numbers (MatryoshkaLoss's dims and weights), read by
// each loss with its own defaults. The TypeScript descriptors (lib/losses/) check ranges and name the
// user's option; what reaches here unread after the loss is built is refused, so a misspelt option never
// silently falls back to a default.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace finetuner {

class LossOptions {
 public:
  using Value = std::variant<double, std::string, std::vector<double>>;

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

  std::vector<double> numbers(const std::string& name, const std::vector<double>& fallback) const {
    auto found = values_.find(name);
    if (found == values_.end()) return fallback;
    read_.insert(name);
    TORCH_CHECK(std::holds_alternative<std::vector<double>>(found->second), "loss option '", name, "' must be a list of numbers");
    return std::get<std::vector<double>>(found->second);
  }

  bool has(const std::string& name) const { return values_.count(name) > 0; }

  // A copy without `names` (a wrapper's own options, before the loss it wraps reads the rest).
  LossOptions without(const std::vector<std::string>& names) const {
    LossOptions rest;
    for (const auto& entry : values_) {
      if (std::find(names.begin(), names.end(), entry.first) == names.end()) rest.values_.insert(entry);
    }
    return rest;
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

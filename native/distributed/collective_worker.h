// One collective of a process group outside a training step (a barrier, agreeing on flags, closing) off
// the event loop: it may wait on the other ranks up to the group's timeout.
#pragma once

#include "distributed/process_group.h"
#include "promise_worker.h"

#include <functional>
#include <vector>

namespace finetuner {

class CollectiveWorker : public PromiseWorker {
 public:
  using Collective = std::function<std::vector<double>(ProcessGroup& group)>;

  CollectiveWorker(Napi::Env env, const char* name, std::shared_ptr<ProcessGroup> group, Collective collective,
                   Napi::Object owner)
      : PromiseWorker(env, name), group_(std::move(group)), collective_(std::move(collective)),
        owner_(Napi::Persistent(owner)) {}

 protected:
  void Run() override { values_ = collective_(*group_); }

  Napi::Value Result(Napi::Env env) override {
    auto array = Napi::Array::New(env, values_.size());
    for (uint32_t i = 0; i < values_.size(); ++i) array.Set(i, values_[i]);
    return array;
  }

 private:
  std::shared_ptr<ProcessGroup> group_;
  Collective collective_;
  Napi::ObjectReference owner_;
  std::vector<double> values_;
};

}  // namespace finetuner

// Joins a process group off the event loop: the rendezvous waits for every rank (up to joinTimeout) and
// resolves to a NativeProcessGroup.
#pragma once

#include "distributed/process_group.h"
#include "distributed/process_group_handle.h"
#include "promise_worker.h"

namespace finetuner {

class JoinWorker : public PromiseWorker {
 public:
  JoinWorker(Napi::Env env, DistributedSettings settings)
      : PromiseWorker(env, "finetuner:joinProcessGroup"), settings_(std::move(settings)) {}

 protected:
  void Run() override { group_ = ProcessGroup::join(settings_); }

  Napi::Value Result(Napi::Env env) override { return ProcessGroupHandle::NewInstance(env, std::move(group_)); }

 private:
  DistributedSettings settings_;
  std::shared_ptr<ProcessGroup> group_;
};

}  // namespace finetuner

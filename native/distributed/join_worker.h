// Joins a process group off the event loop: the rendezvous waits for every rank (up to joinTimeout) and
// resolves to a NativeProcessGroup. It waits on a libuv thread, not the compute thread: joining runs no
// LibTorch computation, and other models' jobs need not wait up to a minute for the other ranks.
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
  bool onComputeThread() const override { return false; }

  Napi::Value Result(Napi::Env env) override { return ProcessGroupHandle::NewInstance(env, std::move(group_)); }

 private:
  DistributedSettings settings_;
  std::shared_ptr<ProcessGroup> group_;
};

}  // namespace finetuner

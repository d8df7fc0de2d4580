// JS class wrapping a joined ProcessGroup (the binding's NativeProcessGroup). fit() joins one through
// the addon's joinProcessGroup, hands it to every training step, agrees with the other ranks on when to
// stop, waits at barriers, and closes it when training ends. close() is safe twice; a training step that
// is still running keeps its own hold on the group.
#pragma once

#include "distributed/process_group.h"

#include <napi.h>

#include <memory>

namespace finetuner {

class ProcessGroupHandle : public Napi::ObjectWrap<ProcessGroupHandle> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  static Napi::Object NewInstance(Napi::Env env, std::shared_ptr<ProcessGroup> group);
  // The group of a JS value that is a NativeProcessGroup (throws a TypeError naming `what` otherwise).
  static std::shared_ptr<ProcessGroup> groupOf(const Napi::Value& value, const char* what);
  // addon.joinProcessGroup({ rank, worldSize, masterAddr, masterPort, backend, joinTimeoutMs, timeoutMs }).
  static Napi::Value Join(const Napi::CallbackInfo& info);

  explicit ProcessGroupHandle(const Napi::CallbackInfo& info);

 private:
  Napi::Value Barrier(const Napi::CallbackInfo& info);
  Napi::Value Agree(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetRank(const Napi::CallbackInfo& info);
  Napi::Value GetWorldSize(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  std::shared_ptr<ProcessGroup> requireGroup(Napi::Env env) const;

  std::shared_ptr<ProcessGroup> group_;
  int rank_ = 0;
  int worldSize_ = 1;
};

}  // namespace finetuner

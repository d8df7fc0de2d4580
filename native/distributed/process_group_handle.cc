#include "distributed/process_group_handle.h"

#include "addon.h"
#include "distributed/collective_worker.h"
#include "distributed/join_worker.h"
#include "errors.h"
#include "napi_options.h"

#include <cmath>

namespace finetuner {
namespace {

int integerField(const Napi::Object& options, const char* key, double low, double high) {
  double value = numberField(options, key);
  if (!(std::floor(value) == value && value >= low && value <= high)) {
    throwRangeError(options.Env(), std::string("option '") + key + "' must be an integer in " + std::to_string(static_cast<int64_t>(low)) +
                                       ".." + std::to_string(static_cast<int64_t>(high)) + ", got " + std::to_string(value));
  }
  return static_cast<int>(value);
}

std::chrono::milliseconds millisecondsField(const Napi::Object& options, const char* key) {
  double value = numberField(options, key);
  if (!(std::isfinite(value) && value > 0)) {
    throwRangeError(options.Env(), std::string("option '") + key + "' must be a positive number of milliseconds");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(value)));
}

}  // namespace

Napi::Function ProcessGroupHandle::DefineClass(Napi::Env env) {
  return ObjectWrap<ProcessGroupHandle>::DefineClass(
      env, "NativeProcessGroup",
      {
          InstanceMethod<&ProcessGroupHandle::Barrier>("barrier"),
          InstanceMethod<&ProcessGroupHandle::Agree>("agree"),
          InstanceMethod<&ProcessGroupHandle::Close>("close"),
          InstanceAccessor<&ProcessGroupHandle::GetRank>("rank"),
          InstanceAccessor<&ProcessGroupHandle::GetWorldSize>("worldSize"),
          InstanceAccessor<&ProcessGroupHandle::GetClosed>("closed"),
      });
}

Napi::Object ProcessGroupHandle::NewInstance(Napi::Env env, std::shared_ptr<ProcessGroup> group) {
  auto* addon = env.GetInstanceData<FinetunerAddon>();
  return addon->processGroupConstructor().New({Napi::External<std::shared_ptr<ProcessGroup>>::New(env, &group)});
}

ProcessGroupHandle::ProcessGroupHandle(const Napi::CallbackInfo& info) : ObjectWrap<ProcessGroupHandle>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throwTypeError(info.Env(), "NativeProcessGroup cannot be constructed from JS: use joinProcessGroup");
  }
  group_ = *info[0].As<Napi::External<std::shared_ptr<ProcessGroup>>>().Data();
  rank_ = group_->rank();
  worldSize_ = group_->worldSize();
}

std::shared_ptr<ProcessGroup> ProcessGroupHandle::groupOf(const Napi::Value& value, const char* what) {
  Napi::Env env = value.Env();
  auto* addon = env.GetInstanceData<FinetunerAddon>();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(addon->processGroupConstructor())) {
    throwTypeError(env, std::string(what) + " must be a process group from joinProcessGroup");
  }
  return Unwrap(value.As<Napi::Object>())->requireGroup(env);
}

Napi::Value ProcessGroupHandle::Join(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throwTypeError(env, "joinProcessGroup needs { rank, worldSize, masterAddr, masterPort, backend, joinTimeoutMs, timeoutMs }");
  auto options = info[0].As<Napi::Object>();
  DistributedSettings settings;
  settings.worldSize = integerField(options, "worldSize", 1, 1 << 20);
  settings.rank = integerField(options, "rank", 0, settings.worldSize - 1);
  settings.masterAddr = stringField(options, "masterAddr");
  settings.masterPort = integerField(options, "masterPort", 1, 65535);
  settings.backend = stringField(options, "backend");
  settings.joinTimeout = millisecondsField(options, "joinTimeoutMs");
  settings.timeout = millisecondsField(options, "timeoutMs");
  auto* worker = new JoinWorker(env, std::move(settings));
  worker->Queue();
  return worker->Promise();
}

std::shared_ptr<ProcessGroup> ProcessGroupHandle::requireGroup(Napi::Env env) const {
  if (!group_) throwTypeError(env, "the process group is closed");
  return group_;
}

Napi::Value ProcessGroupHandle::Barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string operation = info[0].IsString() ? "barrier (" + info[0].As<Napi::String>().Utf8Value() + ")" : "barrier";
  auto collective = [operation](ProcessGroup& group) {
    group.barrier(operation.c_str());
    return std::vector<double>{};
  };
  auto* worker = new CollectiveWorker(env, "finetuner:distributedBarrier", requireGroup(env), collective, info.This().As<Napi::Object>());
  worker->Queue();
  return worker->Promise();
}

Napi::Value ProcessGroupHandle::Agree(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throwTypeError(env, "agree needs an array of numbers");
  auto array = info[0].As<Napi::Array>();
  std::vector<double> values;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    if (!array.Get(i).IsNumber()) throwTypeError(env, "agree needs an array of numbers");
    values.push_back(array.Get(i).As<Napi::Number>().DoubleValue());
  }
  std::string operation = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "agreement";
  auto collective = [values, operation](ProcessGroup& group) { return group.allReduceMax(values, operation.c_str()); };
  auto* worker = new CollectiveWorker(env, "finetuner:distributedAgree", requireGroup(env), collective, info.This().As<Napi::Object>());
  worker->Queue();
  return worker->Promise();
}

Napi::Value ProcessGroupHandle::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!group_) {
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Resolve(Napi::Array::New(env));
    return deferred.Promise();
  }
  auto group = std::move(group_);
  group_.reset();
  auto collective = [](ProcessGroup& group) {
    group.close();
    return std::vector<double>{};
  };
  auto* worker = new CollectiveWorker(env, "finetuner:distributedClose", std::move(group), collective, info.This().As<Napi::Object>());
  worker->Queue();
  return worker->Promise();
}

Napi::Value ProcessGroupHandle::GetRank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), rank_); }

Napi::Value ProcessGroupHandle::GetWorldSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), worldSize_); }

Napi::Value ProcessGroupHandle::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !group_); }

}  // namespace finetuner

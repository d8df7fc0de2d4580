// Base of every async operation: a Napi::AsyncWorker that settles a promise. Execute runs on a libuv
// thread, which hands Run() to the addon's compute thread (compute_thread.h) and waits; neither touches
// JS. C++ exceptions (c10::Error included) become rejections with the message only, never a crash.
#pragma once

#include "compute_thread.h"
#include "errors.h"
#include "thread_settings.h"

#include <napi.h>

namespace finetuner {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env, const char* name)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  // The work itself, on a worker thread.
  virtual void Run() = 0;
  // Builds the resolved value, on the main thread.
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

  void Execute() final {
    try {
      ComputeThread::shared().run([this] {
        applyThreadSettings();
        Run();
      });
    } catch (const std::exception& error) {
      SetError(describeException(error));
    } catch (...) {
      SetError("unknown native error");
    }
  }

  void OnOK() final {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error& error) {
      deferred_.Reject(error.Value());
    } catch (const std::exception& error) {
      deferred_.Reject(Napi::Error::New(env, describeException(error)).Value());
    }
  }

  void OnError(const Napi::Error& error) final { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
};

}  // namespace finetuner

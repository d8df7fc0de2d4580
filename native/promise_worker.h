// Base of every async operation: a Napi::AsyncWorker that settles a promise. Execute runs on a libuv
// thread, which hands Run() to the addon's compute thread (compute_thread.h) and waits; neither touches
// JS. C++ exceptions (c10::Error included) become rejections with the message only, never a crash.
//
// Completion never lets an exception out. An exception leaving a completion callback is std::terminate,
// and completion also runs while an environment is torn down (a worker_thread terminated): Node drains
// the queued work first, so every job still runs to its end, but JS can no longer run and every N-API
// call that would settle the promise fails. So the promise is settled through the C API, whose failures
// are status codes, and a result that cannot be delivered is dropped with its native memory.
#pragma once

#include "compute_thread.h"
#include "errors.h"
#include "thread_settings.h"

#include <napi.h>

#include <string>

namespace finetuner {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name) {
    napi_value promise;
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_promise(env, &deferred_, &promise));
    promise_ = Napi::Promise(env, promise);
  }

  Napi::Promise Promise() const { return promise_; }

 protected:
  // The work itself, on the compute thread.
  virtual void Run() = 0;
  // Builds the resolved value, on the main thread. May throw; the promise then rejects.
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }
  // false: Run() stays on the libuv thread. Only for work that runs no LibTorch computation and may
  // wait long on something else (joining a process group waits for the other ranks), which would
  // otherwise hold up every model's jobs on the compute thread.
  virtual bool onComputeThread() const { return true; }

  void Execute() final {
    try {
      if (!onComputeThread()) {
        Run();
        return;
      }
      ComputeThread::shared().run([this] {
        applyThreadSettings();
        Run();
      });
    } catch (const std::exception& error) {
      failed_ = true;
      error_ = describeException(error);
    } catch (...) {
      failed_ = true;
    }
  }

  // Replaces AsyncWorker's completion (OnOK / OnError through a wrapper that rethrows into JS).
  void OnWorkComplete(Napi::Env env, napi_status status) final {
    if (status != napi_cancelled) settle(env);
    Destroy();
  }

 private:
  void settle(napi_env env) noexcept {
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    try {
      if (failed_) {
        reject(env, Napi::Error::New(env, error_.empty() ? "unknown native error" : error_).Value());
      } else {
        resolve(env);
      }
    } catch (...) {
      // Only reached when the environment is going away: nothing is left to tell.
    }
    napi_close_handle_scope(env, scope);
  }

  void resolve(napi_env env) {
    napi_value value = nullptr;
    try {
      value = Result(Napi::Env(env));
    } catch (const Napi::Error& error) {
      reject(env, error.Value());
      return;
    } catch (const std::exception& error) {
      reject(env, Napi::Error::New(env, describeException(error)).Value());
      return;
    }
    napi_resolve_deferred(env, deferred_, value);  // fails only while the environment is torn down
  }

  void reject(napi_env env, napi_value error) { napi_reject_deferred(env, deferred_, error); }

  napi_deferred deferred_ = nullptr;
  Napi::Promise promise_;
  std::string error_;
  bool failed_ = false;
};

}  // namespace finetuner

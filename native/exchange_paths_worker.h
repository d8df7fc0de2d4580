// Swaps two paths in one step (Linux renameat2 with RENAME_EXCHANGE), so that a model directory being
// replaced is at every instant either the old model or the new one: two rename() calls leave a moment,
// and after a kill -9 possibly forever, with no directory at the target. A filesystem op, not LibTorch
// work: it runs on a libuv thread, not the compute thread. Rejects with code ENOTSUP where the kernel
// or filesystem cannot exchange (lib/outputDir.ts then falls back to two renames with crash recovery).
#pragma once

#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

namespace finetuner {

class ExchangePathsWorker : public Napi::AsyncWorker {
 public:
  ExchangePathsWorker(Napi::Env env, std::string first, std::string second)
      : Napi::AsyncWorker(env, "finetuner.exchangePaths"),
        deferred_(Napi::Promise::Deferred::New(env)),
        first_(std::move(first)),
        second_(std::move(second)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
#if defined(__linux__) && defined(SYS_renameat2)
    if (syscall(SYS_renameat2, AT_FDCWD, first_.c_str(), AT_FDCWD, second_.c_str(), RENAME_EXCHANGE) == 0) return;
    errno_ = errno;
#else
    errno_ = ENOSYS;
#endif
  }

  // Settles the promise; nothing may escape a completion callback (the environment may be going away).
  void OnOK() override {
    try {
      Napi::Env env = Env();
      if (errno_ == 0) {
        deferred_.Resolve(env.Undefined());
        return;
      }
      // EINVAL: the filesystem has no exchange; ENOSYS: the kernel has no renameat2.
      bool unsupported = errno_ == EINVAL || errno_ == ENOSYS || errno_ == ENOTSUP;
      auto error = Napi::Error::New(env, "cannot exchange " + first_ + " and " + second_ + ": " + std::strerror(errno_));
      error.Set("code", unsupported ? "ENOTSUP" : errnoName(errno_));
      deferred_.Reject(error.Value());
    } catch (...) {
    }
  }

  void OnError(const Napi::Error& error) override {
    try {
      deferred_.Reject(error.Value());
    } catch (...) {
    }
  }

 private:
  static const char* errnoName(int code) {
    switch (code) {
      case ENOENT: return "ENOENT";
      case EACCES: return "EACCES";
      case EPERM: return "EPERM";
      case EROFS: return "EROFS";
      case EXDEV: return "EXDEV";
      case EBUSY: return "EBUSY";
      default: return "EIO";
    }
  }

  Napi::Promise::Deferred deferred_;
  std::string first_;
  std::string second_;
  int errno_ = 0;
};

}  // namespace finetuner

// LibTorch's CPU allocator with a cache of large blocks. Without it every large activation of a forward
// (a BERT batch's 78 MB feed-forward output, a ResNet stage's feature maps) goes to glibc, which serves
// it with a fresh mmap on the compute thread's arena (non-main arenas cannot hold blocks over 64 MB) and
// unmaps it on free, so every encode touches its pages anew: measured 6.7M minor page faults for one
// bert-base batch of 32 x ~200 tokens against 0.86M with one arena and no unmapping. Freed blocks of
// 1 MiB or more are kept here by size class and handed out again; smaller ones go to LibTorch's default
// allocator as before. The cache is capped (FINETUNER_CPU_CACHE_MB, default 2048; 0 turns it off), and
// the process keeps that much more memory between calls: the trade a caching allocator makes.
#pragma once

#include <c10/core/Allocator.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace finetuner {

struct CpuCacheStats {
  int64_t capBytes = 0;
  int64_t cachedBytes = 0;  // free blocks held for reuse
  int64_t liveBytes = 0;    // large blocks handed out and not yet freed
  int64_t hits = 0;         // large allocations served from the cache
  int64_t misses = 0;       // large allocations that went to the system
};

class CachingCpuAllocator final : public c10::Allocator {
 public:
  explicit CachingCpuAllocator(size_t capBytes);

  c10::DataPtr allocate(size_t bytes) const override;
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  CpuCacheStats stats() const;
  // Frees every cached block (blocks in use are untouched).
  void empty();

  // The size class a request of `bytes` is served from: page-rounded, then up to a quarter step between
  // powers of two, so blocks are reused across batches of slightly different lengths (waste under 25%).
  static size_t sizeClass(size_t bytes);
  static constexpr size_t kMinCachedBytes = size_t{1} << 20;

 private:
  static void release(void* pointer);
  void* take(size_t bytes) const;
  void give(void* pointer);

  size_t capBytes_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<size_t, std::vector<void*>> free_;  // size class -> free blocks
  mutable std::unordered_map<void*, size_t> live_;               // block -> its size class
  mutable CpuCacheStats stats_;
};

// Installs the caching allocator as LibTorch's CPU allocator (once, at addon load), unless
// FINETUNER_CPU_CACHE_MB is 0. Returns the installed allocator, or nullptr when the cache is off.
CachingCpuAllocator* installCachingCpuAllocator();
CachingCpuAllocator* cachingCpuAllocator();

}  // namespace finetuner

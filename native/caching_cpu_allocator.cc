#include "caching_cpu_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace finetuner {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kDefaultCapMiB = 2048;

CachingCpuAllocator*& installed() {
  static CachingCpuAllocator* allocator = nullptr;
  return allocator;
}

size_t capFromEnvironment() {
  const char* text = std::getenv("FINETUNER_CPU_CACHE_MB");
  if (text == nullptr || *text == '\0') return kDefaultCapMiB << 20;
  char* end = nullptr;
  unsigned long long mib = std::strtoull(text, &end, 10);
  // A value that is not a plain number keeps the default rather than silently turning the cache off.
  if (end == text || *end != '\0') return kDefaultCapMiB << 20;
  return static_cast<size_t>(std::min<unsigned long long>(mib, 1ull << 40)) << 20;
}

}  // namespace

CachingCpuAllocator::CachingCpuAllocator(size_t capBytes) : capBytes_(capBytes) {
  stats_.capBytes = static_cast<int64_t>(capBytes);
}

size_t CachingCpuAllocator::sizeClass(size_t bytes) {
  size_t pages = (bytes + kPage - 1) / kPage * kPage;
  size_t power = kPage;
  while (power * 2 <= pages) power *= 2;
  size_t step = std::max(kPage, power / 4);
  return (pages + step - 1) / step * step;
}

void* CachingCpuAllocator::take(size_t bytes) const {
  std::lock_guard<std::mutex> lock(mutex_);
  void* block = nullptr;
  auto found = free_.find(bytes);
  if (found != free_.end() && !found->second.empty()) {
    block = found->second.back();
    found->second.pop_back();
    stats_.cachedBytes -= static_cast<int64_t>(bytes);
    ++stats_.hits;
  } else {
    ++stats_.misses;
  }
  if (block == nullptr) {
    // Outside the lock would be nicer for a slow mmap, but misses are the rare case once warm.
    block = c10::alloc_cpu(bytes);
  }
  live_.emplace(block, bytes);
  stats_.liveBytes += static_cast<int64_t>(bytes);
  return block;
}

void CachingCpuAllocator::give(void* pointer) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = live_.find(pointer);
  if (found == live_.end()) {
    c10::free_cpu(pointer);  // not ours (cannot happen through release(), kept as a safe fallback)
    return;
  }
  size_t bytes = found->second;
  live_.erase(found);
  stats_.liveBytes -= static_cast<int64_t>(bytes);
  if (static_cast<size_t>(stats_.cachedBytes) + bytes > capBytes_) {
    c10::free_cpu(pointer);
    return;
  }
  free_[bytes].push_back(pointer);
  stats_.cachedBytes += static_cast<int64_t>(bytes);
}

c10::DataPtr CachingCpuAllocator::allocate(size_t bytes) const {
  if (bytes < kMinCachedBytes) return c10::GetDefaultCPUAllocator()->allocate(bytes);
  void* block = take(sizeClass(bytes));
  return {block, block, &release, c10::Device(c10::DeviceType::CPU)};
}

void CachingCpuAllocator::release(void* pointer) {
  if (pointer == nullptr) return;
  auto* allocator = installed();
  // Small blocks came from the default allocator, whose deleter is free_cpu as well; only large ones
  // are in live_. The allocator is never destroyed, so tensors freed at exit still find it.
  if (allocator == nullptr) {
    c10::free_cpu(pointer);
    return;
  }
  allocator->give(pointer);
}

CpuCacheStats CachingCpuAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingCpuAllocator::empty() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [bytes, blocks] : free_) {
    for (void* block : blocks) c10::free_cpu(block);
  }
  free_.clear();
  stats_.cachedBytes = 0;
}

CachingCpuAllocator* installCachingCpuAllocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    size_t cap = capFromEnvironment();
    if (cap == 0) return;
    // Leaked on purpose: tensors may be freed by static destructors after the addon is unloaded.
    installed() = new CachingCpuAllocator(cap);
    // Priority 1 wins over LibTorch's default (0); a process that installed its own at a higher
    // priority keeps it.
    c10::SetCPUAllocator(installed(), 1);
    if (c10::GetCPUAllocator() != installed()) installed() = nullptr;
  });
  return installed();
}

CachingCpuAllocator* cachingCpuAllocator() { return installed(); }

}  // namespace finetuner

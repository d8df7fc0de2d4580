// LibTorch's OpenMP thread count is per calling thread: a value set on the main thread does not reach
// the compute thread, which applies the process-wide setting at the start of each job.
// kMaxThreads bounds it: OpenMP allocates per-thread state for the whole team up front (about 224 bytes
// each in libgomp), and a count past int's range wrapped to 1.4e9 threads and crashed. 1024 is above
// any CPU this runs on today and far below where a team cannot be allocated.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <thread>

namespace finetuner {

constexpr int kMaxThreads = 1024;

inline std::atomic<int>& configuredThreads() {
  static std::atomic<int> threads{std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, kMaxThreads)};
  return threads;
}

inline void applyThreadSettings() {
  int wanted = configuredThreads().load();
  if (at::get_num_threads() != wanted) at::set_num_threads(wanted);
}

}  // namespace finetuner

// LibTorch's OpenMP thread count is per calling thread: a value set on the main thread does not reach
// the compute thread, which applies the process-wide setting at the start of each job.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <thread>

namespace finetuner {

inline std::atomic<int>& configuredThreads() {
  static std::atomic<int> threads{std::max(1, static_cast<int>(std::thread::hardware_concurrency()))};
  return threads;
}

inline void applyThreadSettings() {
  int wanted = configuredThreads().load();
  if (at::get_num_threads() != wanted) at::set_num_threads(wanted);
}

}  // namespace finetuner

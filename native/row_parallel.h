// Splits a loop over rows across the configured intra-op thread count (thread_settings.h), for the plain
// C++ loops of the search jobs (normalising rows, ranking each query's scores). Not at::parallel_for:
// that is inline in ATen's headers, and its OpenMP branch is compiled only under _OPENMP, which the addon
// is not built with (LibTorch's own kernels are), so inside the addon it runs everything on one thread.
// The calling thread takes the first share and std::threads the rest; all are joined before returning,
// and the first exception any of them threw is rethrown here.
#pragma once

#include "thread_settings.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace finetuner {

// body(begin, end) over [0, count), in at most configuredThreads() contiguous shares of at least
// minRowsPerShare rows each.
template <typename Body>
void parallelRows(int64_t count, int64_t minRowsPerShare, const Body& body) {
  const int64_t shares = std::clamp<int64_t>(count / std::max<int64_t>(1, minRowsPerShare), 1, configuredThreads().load());
  if (shares <= 1) {
    body(int64_t{0}, count);
    return;
  }
  std::exception_ptr failure;
  std::mutex failureMutex;
  auto run = [&](int64_t share) {
    try {
      body(count * share / shares, count * (share + 1) / shares);
    } catch (...) {
      std::lock_guard<std::mutex> lock(failureMutex);
      if (!failure) failure = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(shares - 1));
  for (int64_t share = 1; share < shares; ++share) threads.emplace_back(run, share);
  run(0);
  for (auto& thread : threads) thread.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace finetuner

// One thread owned by the addon runs every LibTorch job; libuv's worker only hands the job over and
// waits. Why one thread and not libuv's four:
//   - glibc gives every thread that allocates its own malloc arena, and keeps freed memory in it. With
//     training steps landing on any of four libuv workers, CLIP ViT-B-32 training grew to 16-17.5 GB
//     (and was once killed for it) where one arena settles at about 8 GB (measured by the bench).
//   - LibTorch's OpenMP team belongs to the calling thread: one compute thread keeps one team instead
//     of one per libuv worker, so two jobs never oversubscribe the cores.
//   - Autocast and the intra-op thread count are thread-local settings, applied per job on this thread.
// Jobs of different models run one after another, which on a CPU loses nothing (each job already uses
// every core through its intra-op threads).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace finetuner {

class ComputeThread {
 public:
  // Shared by every addon instance (worker_threads included); never destroyed, so process exit never
  // waits on or tears down a thread that is still running a job.
  static ComputeThread& shared() {
    static ComputeThread* instance = new ComputeThread();
    return *instance;
  }

  // Runs `job` on the compute thread and blocks the caller until it is done; its exception, if any, is
  // rethrown here.
  void run(std::function<void()> job) {
    std::packaged_task<void()> task(std::move(job));
    auto done = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(task));
    }
    ready_.notify_one();
    done.get();
  }

 private:
  ComputeThread() { std::thread([this] { loop(); }).detach(); }

  void loop() {
    for (;;) {
      std::packaged_task<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return !queue_.empty(); });
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::packaged_task<void()>> queue_;
};

}  // namespace finetuner

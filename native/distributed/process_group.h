// A c10d process group joined from torchrun's settings: a TCPStore (rank 0 hosts it) for the rendezvous,
// then Gloo on the CPU (NCCL on CUDA where LibTorch was built with it). Every collective runs on the
// compute thread inside a training step or a worker, waits at most the operation timeout, and turns a
// failure (a peer that died, a timeout) into an exception naming this rank and the operation. After one
// failure the group is broken: later operations fail at once instead of waiting on a dead peer again.
#pragma once

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace finetuner {

struct DistributedSettings {
  int rank = 0;
  int worldSize = 1;
  std::string masterAddr;
  int masterPort = 0;
  std::string backend = "gloo";  // "gloo" (CPU tensors) or "nccl" (CUDA)
  std::chrono::milliseconds joinTimeout{60000};
  std::chrono::milliseconds timeout{1800000};
};

class ProcessGroup {
 public:
  // Blocks until every rank has joined, or throws after joinTimeout naming the address and rank.
  static std::shared_ptr<ProcessGroup> join(const DistributedSettings& settings);
  ~ProcessGroup();

  int rank() const { return settings_.rank; }
  int worldSize() const { return settings_.worldSize; }
  // Where collectives take their tensors: the CPU for Gloo, the GPU for NCCL.
  torch::Device device() const { return settings_.backend == "nccl" ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU); }
  // Seconds spent in collectives since the group was joined (communication time per step is a difference).
  double communicationSeconds();

  // Sums `tensors` across ranks in place, flattened into buckets of about bucketBytes each (one
  // collective per bucket instead of one per tensor), then divides by the world size if `average`.
  void allReduce(const std::vector<torch::Tensor>& tensors, bool average, const char* operation,
                 int64_t bucketBytes = 4 << 20);
  // Every rank's rows of `local` (N_r x ...; N_r may differ), concatenated in rank order; `offset` gets
  // where this rank's rows start.
  torch::Tensor allGatherRows(const torch::Tensor& local, int64_t* offset, const char* operation);
  // Elementwise maximum of a small float64 vector across ranks (agreeing on flags).
  std::vector<double> allReduceMax(const std::vector<double>& values, const char* operation);
  void barrier(const char* operation);
  // Releases the store and the backend (its threads); safe twice; never throws.
  void close() noexcept;

 private:
  explicit ProcessGroup(DistributedSettings settings) : settings_(std::move(settings)) {}
  // Runs one collective, turning its failure into this group's error.
  template <typename Collective>
  void collective(const char* operation, Collective&& run);
  c10d::ProcessGroup& backend(const char* operation);

  DistributedSettings settings_;
  std::mutex mutex_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> backend_;
  std::string failure_;  // set by the first failed collective
  double seconds_ = 0.0;
};

}  // namespace finetuner

#include "process_group.h"

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#ifdef FINETUNER_HAS_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef FINETUNER_HAS_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>

namespace finetuner {
namespace {

std::string whereOf(const DistributedSettings& settings) {
  return "rank " + std::to_string(settings.rank) + " of " + std::to_string(settings.worldSize);
}

std::string messageOf(const std::exception& error) {
  if (const auto* torchError = dynamic_cast<const c10::Error*>(&error)) return torchError->what_without_backtrace();
  return error.what();
}

bool isLoopback(const std::string& address) {
  return address == "localhost" || address.rfind("127.", 0) == 0 || address == "::1";
}

c10::intrusive_ptr<c10d::ProcessGroup> makeBackend(const c10::intrusive_ptr<c10d::Store>& store,
                                                   const DistributedSettings& settings) {
  if (settings.backend == "nccl") {
#ifdef FINETUNER_HAS_NCCL
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = settings.timeout;
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, settings.rank, settings.worldSize, options);
#else
    TORCH_CHECK(false, "distributed training on CUDA needs NCCL, and this finetuner.node was built without it "
                "(it needs a CUDA LibTorch, libtorch_cuda.so, and NCCL's nccl.h); train on the CPU (Gloo) or rebuild");
#endif
  }
  TORCH_CHECK(settings.backend == "gloo", "unknown distributed backend '", settings.backend, "': use gloo or nccl");
#ifdef FINETUNER_HAS_GLOO
  auto options = c10d::ProcessGroupGloo::Options::create(settings.timeout);
  // Where this rank listens for its peers: the interface GLOO_SOCKET_IFNAME names (as PyTorch reads
  // it), loopback when the master is local (one machine), else the address of this host's name.
  const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
  if (interface != nullptr && *interface != '\0') {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
  } else if (isLoopback(settings.masterAddr)) {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  } else {
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  options->threads = 2;
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, settings.rank, settings.worldSize, options);
#else
  TORCH_CHECK(false, "this finetuner.node was built without Gloo's headers, so it cannot train distributed: "
              "install libgloo-dev (Debian) and rebuild (finetuner build-native)");
#endif
}

}  // namespace

std::shared_ptr<ProcessGroup> ProcessGroup::join(const DistributedSettings& settings) {
  TORCH_CHECK(settings.worldSize >= 1 && settings.rank >= 0 && settings.rank < settings.worldSize,
              "rank ", settings.rank, " is not in a world of size ", settings.worldSize);
  TORCH_CHECK(settings.masterPort > 0 && settings.masterPort < 65536, "MASTER_PORT must be in 1..65535, got ",
              settings.masterPort);
  std::shared_ptr<ProcessGroup> group(new ProcessGroup(settings));
  std::string where = settings.masterAddr + ":" + std::to_string(settings.masterPort);
  double seconds = settings.joinTimeout.count() / 1000.0;
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(settings.masterPort);
    options.isServer = settings.rank == 0;
    options.numWorkers = settings.worldSize;
    options.waitWorkers = true;
    options.timeout = settings.joinTimeout;
    group->store_ = c10::make_intrusive<c10d::TCPStore>(settings.masterAddr, options);
  } catch (const std::exception& error) {
    TORCH_CHECK(false, "distributed join failed on ", whereOf(settings), ": ",
                settings.rank == 0 ? "cannot host" : "cannot reach", " the rendezvous store at ", where,
                " (MASTER_ADDR:MASTER_PORT) within ", seconds, " s: ", messageOf(error));
  }
  try {
    group->store_->setTimeout(settings.joinTimeout);
    group->backend_ = makeBackend(group->store_, settings);
    group->store_->setTimeout(settings.timeout);
  } catch (const std::exception& error) {
    group->close();
    TORCH_CHECK(false, "distributed join failed on ", whereOf(settings), " (store at ", where, ", backend ",
                settings.backend, ", ", seconds, " s to join): ", messageOf(error));
  }
  return group;
}

ProcessGroup::~ProcessGroup() { close(); }

void ProcessGroup::close() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    backend_.reset();
  } catch (...) {
    // A backend that fails to shut down has nothing left to tell: the group is gone either way.
  }
  try {
    store_.reset();
  } catch (...) {
  }
  if (failure_.empty()) failure_ = "the process group was closed";
}

c10d::ProcessGroup& ProcessGroup::backend(const char* operation) {
  TORCH_CHECK(backend_ && failure_.empty(), "distributed ", operation, " on ", whereOf(settings_),
              " refused: ", failure_.empty() ? "the process group was closed" : failure_);
  return *backend_;
}

template <typename Collective>
void ProcessGroup::collective(const char* operation, Collective&& run) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& group = backend(operation);
  auto started = std::chrono::steady_clock::now();
  try {
    auto work = run(group);
    work->wait(settings_.timeout);
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  } catch (const std::exception& error) {
    failure_ = std::string("an earlier ") + operation + " failed: " + messageOf(error);
    TORCH_CHECK(false, "distributed ", operation, " failed on ", whereOf(settings_), ": ", messageOf(error),
                " (a worker may have died or stopped answering; operations time out after ",
                settings_.timeout.count() / 1000.0, " s)");
  }
}

double ProcessGroup::communicationSeconds() {
  std::lock_guard<std::mutex> lock(mutex_);
  return seconds_;
}

void ProcessGroup::allReduce(const std::vector<torch::Tensor>& tensors, bool average, const char* operation,
                             int64_t bucketBytes) {
  size_t first = 0;
  while (first < tensors.size()) {
    // One bucket: consecutive tensors of one dtype and device, up to bucketBytes (at least one tensor).
    size_t last = first;
    int64_t bytes = 0;
    while (last < tensors.size() && (last == first || (bytes + tensors[last].nbytes() <= static_cast<uint64_t>(bucketBytes) &&
                                                        tensors[last].scalar_type() == tensors[first].scalar_type() &&
                                                        tensors[last].device() == tensors[first].device()))) {
      bytes += static_cast<int64_t>(tensors[last].nbytes());
      ++last;
    }
    std::vector<torch::Tensor> parts;
    for (size_t i = first; i < last; ++i) parts.push_back(tensors[i].reshape({-1}));
    std::vector<torch::Tensor> flat{torch::cat(parts)};
    collective(operation, [&](c10d::ProcessGroup& group) { return group.allreduce(flat); });
    if (average) flat[0].div_(settings_.worldSize);
    int64_t at = 0;
    for (size_t i = first; i < last; ++i) {
      int64_t count = tensors[i].numel();
      tensors[i].copy_(flat[0].narrow(0, at, count).view_as(tensors[i]));
      at += count;
    }
    first = last;
  }
}

torch::Tensor ProcessGroup::allGatherRows(const torch::Tensor& local, int64_t* offset, const char* operation) {
  const int world = settings_.worldSize;
  auto input = local.contiguous();
  // Rows differ between ranks when a global batch does not split evenly: gather the counts, then rows
  // padded to the largest count.
  std::vector<torch::Tensor> counts{torch::full({1}, input.size(0), torch::dtype(torch::kInt64).device(input.device()))};
  std::vector<std::vector<torch::Tensor>> countOutputs(1);
  for (int r = 0; r < world; ++r) countOutputs[0].push_back(torch::empty_like(counts[0]));
  collective(operation, [&](c10d::ProcessGroup& group) { return group.allgather(countOutputs, counts); });
  std::vector<int64_t> rows;
  int64_t most = 0;
  for (const auto& count : countOutputs[0]) {
    rows.push_back(count.item<int64_t>());
    most = std::max(most, rows.back());
  }
  auto shape = input.sizes().vec();
  shape[0] = most;
  std::vector<torch::Tensor> padded{input.size(0) == most ? input : torch::zeros(shape, input.options())};
  if (input.size(0) != most) padded[0].narrow(0, 0, input.size(0)).copy_(input);
  std::vector<std::vector<torch::Tensor>> outputs(1);
  for (int r = 0; r < world; ++r) outputs[0].push_back(torch::empty(shape, input.options()));
  collective(operation, [&](c10d::ProcessGroup& group) { return group.allgather(outputs, padded); });
  std::vector<torch::Tensor> parts;
  int64_t start = 0;
  for (int r = 0; r < world; ++r) {
    if (r == settings_.rank && offset != nullptr) *offset = start;
    parts.push_back(outputs[0][r].narrow(0, 0, rows[r]));
    start += rows[r];
  }
  return torch::cat(parts);
}

std::vector<double> ProcessGroup::allReduceMax(const std::vector<double>& values, const char* operation) {
  std::vector<torch::Tensor> tensor{torch::tensor(values, torch::kFloat64).to(device())};
  collective(operation, [&](c10d::ProcessGroup& group) {
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::MAX;
    return group.allreduce(tensor, options);
  });
  auto result = tensor[0].cpu().contiguous();
  return std::vector<double>(result.data_ptr<double>(), result.data_ptr<double>() + result.numel());
}

void ProcessGroup::barrier(const char* operation) {
  collective(operation, [&](c10d::ProcessGroup& group) { return group.barrier(); });
}

}  // namespace finetuner

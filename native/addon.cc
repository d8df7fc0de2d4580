#include "addon.h"

#include "caching_cpu_allocator.h"
#include "compute_loss_worker.h"
#include "distributed/process_group_handle.h"
#include "embedding_model.h"
#include "exchange_paths_worker.h"
#include "load_worker.h"
#include "losses/loss_registry.h"
#include "miners/miner_registry.h"
#include "napi_options.h"
#include "optimizer_factory.h"
#include "retrieval_metrics_worker.h"
#include "search_index.h"
#include "search_top_k_worker.h"
#include "thread_settings.h"

#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/Version.h>

#include <cmath>
#include <string>

#ifndef FINETUNER_TORCH_BUILD_VERSION
#define FINETUNER_TORCH_BUILD_VERSION TORCH_VERSION
#endif

namespace finetuner {
namespace {

Napi::Array namesArray(Napi::Env env, const std::vector<std::string>& names) {
  auto array = Napi::Array::New(env, names.size());
  for (uint32_t i = 0; i < names.size(); ++i) array.Set(i, names[i]);
  return array;
}

// The version of the LibTorch library loaded now, which can differ from the headers the addon was
// compiled with: show_config() is compiled into the library and lists "TORCH_VERSION=x.y.z".
std::string runtimeTorchVersion() {
  std::string config = at::show_config();
  const std::string key = "TORCH_VERSION=";
  auto start = config.find(key);
  if (start == std::string::npos) return "unknown";
  start += key.size();
  auto end = config.find_first_of(", \n", start);
  return config.substr(start, end - start);
}

// The shared fields here; the modality reads its own (pooling, trunk, pixel normalisation...).
EmbeddingModuleSpec readBuildSpec(const Napi::Object& options) {
  Napi::Env env = options.Env();
  EmbeddingModuleSpec spec;
  const auto* modality = callGuarded(env, [&] { return &modalityNamed(stringField(options, "modality")); });
  spec.modality = modality->id();
  BuildOptionReader reader{
      [&](const char* key) { return stringField(options, key); },
      [&](const char* key) { return numberField(options, key); },
      [&](const char* key) { return stringArrayField(options, key); },
      [&](const char* key) { return numberArrayField(options, key); },
  };
  callGuarded(env, [&] { modality->readSpec(reader, spec); });
  spec.embeddingDim = static_cast<int64_t>(numberField(options, "embeddingDim"));
  spec.outputDim = static_cast<int64_t>(numberField(options, "outputDim"));
  spec.normalize = boolField(options, "normalize");
  spec.seed = static_cast<uint64_t>(numberField(options, "seed"));
  return spec;
}

// The caching CPU allocator's counters (caching_cpu_allocator.h), or null where FINETUNER_CPU_CACHE_MB=0.
Napi::Value cpuCacheInfo(Napi::Env env) {
  auto* allocator = cachingCpuAllocator();
  if (allocator == nullptr) return env.Null();
  auto stats = allocator->stats();
  auto info = Napi::Object::New(env);
  info.Set("capBytes", static_cast<double>(stats.capBytes));
  info.Set("cachedBytes", static_cast<double>(stats.cachedBytes));
  info.Set("liveBytes", static_cast<double>(stats.liveBytes));
  info.Set("hits", static_cast<double>(stats.hits));
  info.Set("misses", static_cast<double>(stats.misses));
  return info;
}

}  // namespace

FinetunerAddon::FinetunerAddon(Napi::Env env, Napi::Object exports) {
  installCachingCpuAllocator();
  modelConstructor_ = Napi::Persistent(EmbeddingModel::DefineClass(env));
  processGroupConstructor_ = Napi::Persistent(ProcessGroupHandle::DefineClass(env));
  DefineAddon(exports, {
                           InstanceMethod<&FinetunerAddon::RuntimeInfo>("runtimeInfo"),
                           InstanceMethod<&FinetunerAddon::SetNumThreads>("setNumThreads"),
                           InstanceMethod<&FinetunerAddon::BuildFromBackbone>("buildFromBackbone"),
                           InstanceMethod<&FinetunerAddon::LoadEmbeddingModel>("loadEmbeddingModel"),
                           InstanceMethod<&FinetunerAddon::ExchangePaths>("exchangePaths"),
                           InstanceMethod<&FinetunerAddon::ComputeLoss>("computeLoss"),
                           InstanceMethod<&FinetunerAddon::SearchTopK>("searchTopK"),
                           InstanceMethod<&FinetunerAddon::RetrievalMetrics>("retrievalMetrics"),
                           InstanceMethod<&FinetunerAddon::JoinProcessGroup>("joinProcessGroup"),
                           InstanceValue("SearchIndex", SearchIndex::DefineClass(env), napi_enumerable),
                       });
}

Napi::Value FinetunerAddon::RuntimeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto result = Napi::Object::New(env);
  result.Set("builtAgainst", FINETUNER_TORCH_BUILD_VERSION);
  result.Set("runtime", runtimeTorchVersion());
  result.Set("cudaAvailable", torch::cuda::is_available());
  result.Set("cudaDeviceCount", static_cast<double>(torch::cuda::device_count()));
  result.Set("threads", configuredThreads().load());
  // What this build registered (losses/*.cc, miners/*.cc): the TypeScript descriptors must name the same.
  result.Set("losses", namesArray(env, lossRegistry().names()));
  result.Set("miners", namesArray(env, minerRegistry().names()));
  result.Set("optimizers", namesArray(env, optimizerRegistry().names()));
  result.Set("maxThreads", kMaxThreads);
  result.Set("cpuCache", cpuCacheInfo(env));
  return result;
}

// The one place thread counts are checked (the TypeScript side passes OMP_NUM_THREADS through here).
Napi::Value FinetunerAddon::SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throwTypeError(env, "threads must be a number");
  double threads = info[0].As<Napi::Number>().DoubleValue();
  if (!(threads >= 1 && threads <= kMaxThreads && std::floor(threads) == threads)) {
    throwRangeError(env, "threads must be an integer from 1 to " + std::to_string(kMaxThreads) + ", got " +
                             info[0].ToString().Utf8Value());
  }
  configuredThreads().store(static_cast<int>(threads));
  return env.Undefined();
}

Napi::Value FinetunerAddon::BuildFromBackbone(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throwTypeError(env, "buildFromBackbone needs the model.pt path");
  if (!info[1].IsObject()) throwTypeError(env, "buildFromBackbone needs an options object");
  auto options = info[1].As<Napi::Object>();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  auto spec = readBuildSpec(options);
  auto device = deviceField(options);
  auto* worker = new LoadWorker(env, [path, spec, device] { return EmbeddingCore::fromBackbone(path, spec, device); });
  worker->Queue();
  return worker->Promise();
}

Napi::Value FinetunerAddon::LoadEmbeddingModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throwTypeError(env, "loadEmbeddingModel needs the model.pt path");
  if (!info[1].IsObject()) throwTypeError(env, "loadEmbeddingModel needs an options object");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  auto device = deviceField(info[1].As<Napi::Object>());
  auto* worker = new LoadWorker(env, [path, device] { return EmbeddingCore::fromSaved(path, device); });
  worker->Queue();
  return worker->Promise();
}

Napi::Value FinetunerAddon::ExchangePaths(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsString()) throwTypeError(env, "exchangePaths needs two paths");
  auto* worker = new ExchangePathsWorker(env, info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value());
  worker->Queue();
  return worker->Promise();
}

Napi::Value FinetunerAddon::ComputeLoss(const Napi::CallbackInfo& info) { return ComputeLossWorker::Start(info); }

Napi::Value FinetunerAddon::SearchTopK(const Napi::CallbackInfo& info) { return SearchTopKWorker::Start(info); }

Napi::Value FinetunerAddon::RetrievalMetrics(const Napi::CallbackInfo& info) { return RetrievalMetricsWorker::Start(info); }

Napi::Value FinetunerAddon::JoinProcessGroup(const Napi::CallbackInfo& info) { return ProcessGroupHandle::Join(info); }

}  // namespace finetuner

using finetuner::FinetunerAddon;
NODE_API_ADDON(FinetunerAddon)

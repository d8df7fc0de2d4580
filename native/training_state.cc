// EmbeddingCore's training state for checkpoints (saveTrainingState / loadTrainingState): what a resumed
// run needs besides the weights, in one torch::serialize archive (a zip, like model.pt, so ModelFile
// checks its CRCs on the way in). Kept apart from embedding_core.cc, which trains; this only persists.
//   format             int, kTrainingStateFormat
//   optimizer_name     "adam" | "adamw" | "sgd"
//   trainable          int, how many parameters the optimizer trains (a different freeze changes it)
//   optimizer          LibTorch's own optimizer archive (Optimizer::save: moments, step counts, options)
//   loss_names         names of the current loss's parameters, loss_<i> their values
//   rng                the state of the generator training draws from (the model's own when seeded:
//                      dropout, a loss's sampling)
//   initial_names      WiSE-FT: names of the weights from before training, initial_<i> their values
#include "embedding_core.h"

#include "model_file.h"
#include "model_file_writer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize/archive.h>

#include <cstdint>
#include <mutex>
#include <string>

namespace finetuner {
namespace {

constexpr int64_t kTrainingStateFormat = 1;

c10::List<std::string> namesOf(const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  c10::List<std::string> names;
  for (const auto& [name, tensor] : tensors) names.push_back(name);
  return names;
}

void writeTensors(torch::serialize::OutputArchive& archive, const std::string& prefix,
                  const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  archive.write(prefix + "_names", c10::IValue(namesOf(tensors)));
  for (size_t i = 0; i < tensors.size(); ++i) {
    archive.write(prefix + "_" + std::to_string(i), tensors[i].second.detach().to(torch::kCPU), /*is_buffer=*/true);
  }
}

std::vector<std::pair<std::string, torch::Tensor>> readTensors(torch::serialize::InputArchive& archive,
                                                               const std::string& prefix) {
  c10::IValue names;
  archive.read(prefix + "_names", names);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  const auto list = names.toList();
  for (size_t i = 0; i < list.size(); ++i) {
    torch::Tensor value;
    archive.read(prefix + "_" + std::to_string(i), value, /*is_buffer=*/true);
    tensors.emplace_back(list.get(i).toStringRef(), value);
  }
  return tensors;
}

int64_t readInt(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue value;
  archive.read(key, value);
  return value.toInt();
}

}  // namespace

void EmbeddingCore::saveTrainingState(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  TORCH_CHECK(optimizer_, "configureTraining must be called before saveTrainingState");
  TORCH_CHECK(path.find('\0') == std::string::npos, "training state path contains a NUL byte");
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(kTrainingStateFormat));
  archive.write("optimizer_name", c10::IValue(training_->optimizer));
  int64_t trainable = 0;
  for (const auto& group : optimizer_->param_groups()) trainable += static_cast<int64_t>(group.params().size());
  archive.write("trainable", c10::IValue(trainable));
  torch::serialize::OutputArchive optimizerArchive;
  optimizer_->save(optimizerArchive);
  archive.write("optimizer", optimizerArchive);
  writeTensors(archive, "loss", loss_ ? loss_->parameters() : pendingLossParameters_);
  archive.write("rng", random_.state(), /*is_buffer=*/true);
  writeTensors(archive, "initial", initialWeights_);
  // As save() writes model.pt: a temporary file beside the target, fsynced, renamed; errors named.
  ModelFileWriter writer(path, path + ".tmp-" + std::to_string(reinterpret_cast<uintptr_t>(this)));
  archive.save_to([&writer](const void* data, size_t size) { return writer.write(data, size); });
  writer.commit();
}

void EmbeddingCore::loadTrainingState(const std::string& path, const std::string& lossName, const LossOptions& lossOptions) {
  std::lock_guard<std::mutex> lock(mutex_);
  TORCH_CHECK(optimizer_, "configureTraining must be called before loadTrainingState");
  // The run's loss first: a loss with parameters of its own (ArcFace) adds their optimizer group, which
  // the saved optimizer state has.
  lossFor(lossName, lossOptions);
  auto file = ModelFile::openVerified(path);
  torch::serialize::InputArchive archive;
  try {
    archive.load_from([file](uint64_t pos, void* buffer, size_t size) { return file->read(pos, buffer, size); },
                      [file] { return file->size(); }, device_);
  } catch (const c10::Error& error) {
    TORCH_CHECK(false, path, ": not a finetuner training state (", error.what_without_backtrace(), ")");
  }
  int64_t format = readInt(archive, "format");
  TORCH_CHECK(format == kTrainingStateFormat, path, ": training state format ", format, ", this version reads ",
              kTrainingStateFormat);
  c10::IValue optimizerName;
  archive.read("optimizer_name", optimizerName);
  TORCH_CHECK(optimizerName.toStringRef() == training_->optimizer, path, ": the checkpoint was trained with optimizer '",
              optimizerName.toStringRef(), "', this run uses '", training_->optimizer, "'");
  int64_t trainable = 0;
  for (const auto& group : optimizer_->param_groups()) trainable += static_cast<int64_t>(group.params().size());
  int64_t saved = readInt(archive, "trainable");
  TORCH_CHECK(saved == trainable, path, ": the checkpoint trained ", saved, " parameter tensors, this run trains ",
              trainable, " (a different freeze?)");
  torch::serialize::InputArchive optimizerArchive;
  archive.read("optimizer", optimizerArchive);
  optimizer_->load(optimizerArchive);
  pendingLossParameters_ = readTensors(archive, "loss");
  restorePendingLossParameters();
  torch::Tensor rng;
  archive.read("rng", rng, /*is_buffer=*/true);
  random_.setState(rng.to(torch::kCPU));
  auto initial = readTensors(archive, "initial");
  if (!initial.empty()) initialWeights_ = std::move(initial);
  inference_.reset();
}

void EmbeddingCore::restorePendingLossParameters() {
  if (pendingLossParameters_.empty()) return;
  torch::NoGradGuard noGrad;
  auto parameters = loss_->parameters();
  for (auto& [name, value] : parameters) {
    for (const auto& [savedName, saved] : pendingLossParameters_) {
      if (savedName != name) continue;
      TORCH_CHECK(saved.sizes() == value.sizes(), "the checkpoint's loss parameter ", name, " has shape ",
                  saved.sizes(), ", the loss now has ", value.sizes());
      value.copy_(saved);
    }
  }
  pendingLossParameters_.clear();
}

}  // namespace finetuner

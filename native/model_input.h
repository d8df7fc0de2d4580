// One batch in the form an embedding module's encode method takes it.
#pragma once

#include "modalities/modality.h"

#include <torch/torch.h>

#include <vector>

namespace finetuner {

struct ModelInput {
  Modality modality = Modality::Image;
  // Image: {pixels uint8 N x H x W x 3}. Text: {input ids, attention mask, token types}, int32 N x L.
  std::vector<torch::Tensor> tensors;

  int64_t rows() const { return tensors.empty() ? 0 : tensors.front().size(0); }

  // Rows [start, end), sharing the memory.
  ModelInput rowsSlice(int64_t start, int64_t end) const {
    ModelInput part{modality, {}};
    for (const auto& tensor : tensors) part.tensors.push_back(tensor.slice(0, start, end));
    return part;
  }

  // To a GPU through page-locked memory, asynchronously: the copy overlaps whatever the host does next
  // and the kernels queued behind it on the same stream wait for it. On the CPU, nothing is copied.
  ModelInput to(torch::Device device) const {
    ModelInput moved{modality, {}};
    for (const auto& tensor : tensors) {
      moved.tensors.push_back(device.is_cuda() ? tensor.pin_memory().to(device, /*non_blocking=*/true) : tensor.to(device));
    }
    return moved;
  }
};

}  // namespace finetuner

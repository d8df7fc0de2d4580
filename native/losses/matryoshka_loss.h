// MatryoshkaLoss (Kusupati et al. 2022; sentence-transformers' MatryoshkaLoss) wraps whichever loss a
// step trains with: the options matryoshkaDims (and matryoshkaWeights) make makeLoss wrap the loss it
// built, so any loss of the registry takes them and none names the wrapper.
#pragma once

#include "loss.h"

#include <memory>
#include <string>
#include <vector>

namespace finetuner {

// The wrapper's own options, which the wrapped loss does not see.
const std::vector<std::string>& matryoshkaOptionNames();

// `inner` itself when `options` have no matryoshkaDims; else inner wrapped in MatryoshkaLoss, with its
// options read (and checked against the embedding width in `context`).
std::unique_ptr<Loss> withMatryoshka(std::unique_ptr<Loss> inner, const LossOptions& options, const LossContext& context);

}  // namespace finetuner

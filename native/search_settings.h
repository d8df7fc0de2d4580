// The options a search or retrieval-metrics call shares: { precision?: 'fp32' | 'bf16', blockRows? }.
// blockRows forces the query block size (tests run several blocks on small data); 0 lets the scorer
// choose (cosine_scorer.h).
#pragma once

#include "cosine_scorer.h"
#include "embedding_rows.h"
#include "napi_options.h"

#include <napi.h>

#include <string>

namespace finetuner {

struct SearchSettings {
  ScorePrecision precision = ScorePrecision::Fp32;
  int64_t blockRows = 0;

  static SearchSettings FromJs(const Napi::Value& value, const std::string& caller) {
    Napi::Env env = value.Env();
    SearchSettings settings;
    if (value.IsUndefined()) return settings;
    if (!value.IsObject()) throwTypeError(env, caller + ": options must be an object");
    auto options = value.As<Napi::Object>();
    if (!options.Get("precision").IsUndefined()) {
      if (!options.Get("precision").IsString()) throwTypeError(env, caller + ": precision must be 'fp32' or 'bf16'");
      settings.precision = callGuarded(env, [&] { return scorePrecisionNamed(stringField(options, "precision")); });
    }
    if (!options.Get("blockRows").IsUndefined()) settings.blockRows = positiveIntegerArgument(options.Get("blockRows"), caller + ": blockRows");
    return settings;
  }
};

}  // namespace finetuner

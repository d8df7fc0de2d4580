// Turning C++ failures into JS errors. c10::Error carries a long C++ backtrace in what(); users need
// only the message, so every worker reports through describeException.
#pragma once

#include <napi.h>
#include <c10/util/Exception.h>

#include <exception>
#include <string>

namespace finetuner {

inline std::string trimmed(std::string text) {
  auto begin = text.find_first_not_of(" \n\t");
  auto end = text.find_last_not_of(" \n\t");
  return begin == std::string::npos ? std::string() : text.substr(begin, end - begin + 1);
}

inline std::string describeException(const std::exception& error) {
  if (auto* torchError = dynamic_cast<const c10::Error*>(&error)) {
    return trimmed(torchError->what_without_backtrace());
  }
  return trimmed(error.what());
}

// Runs `body`, converting any C++ exception into a pending JS exception of the given kind. Used by
// synchronous methods; async workers catch in Execute and reject in OnError instead.
template <typename Body>
auto callGuarded(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& error) {
    throw Napi::Error::New(env, describeException(error));
  }
}

[[noreturn]] inline void throwTypeError(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

[[noreturn]] inline void throwRangeError(Napi::Env env, const std::string& message) {
  throw Napi::RangeError::New(env, message);
}

}  // namespace finetuner

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

// An error raised inside a TorchScript method comes with the interpreter's traceback (dozens of lines
// of generated code). Users need the error itself; the methods it passed through name where it was.
//   "The following operation failed in the TorchScript interpreter.\nTraceback ...\n  File "<string>",
//    line 4, in encode_pixels\n ...\nRuntimeError: mat1 and mat2 shapes cannot be multiplied ..."
// becomes "mat1 and mat2 shapes cannot be multiplied ... (in TorchScript encode_pixels > forward)".
inline std::string withoutTorchScriptTrace(const std::string& message) {
  if (message.find("Traceback of TorchScript") == std::string::npos) return message;
  std::string methods;
  const std::string marker = "\", line ";
  for (size_t at = message.find(marker); at != std::string::npos; at = message.find(marker, at + 1)) {
    auto in = message.find(", in ", at);
    auto end = message.find('\n', at);
    if (in == std::string::npos || in > end) continue;
    methods += (methods.empty() ? "" : " > ") + message.substr(in + 5, end - in - 5);
  }
  // The error itself is the last line that is not indented (code lines and markers are).
  std::string last;
  size_t start = 0;
  while (start < message.size()) {
    auto end = message.find('\n', start);
    if (end == std::string::npos) end = message.size();
    std::string line = message.substr(start, end - start);
    if (!line.empty() && line[0] != ' ') last = line;
    start = end + 1;
  }
  auto colon = last.find(": ");
  if (colon != std::string::npos && last.compare(0, colon, "RuntimeError") == 0) last = last.substr(colon + 2);
  if (last.empty()) return message;
  return methods.empty() ? last : last + " (in TorchScript " + methods + ")";
}

inline std::string describeException(const std::exception& error) {
  if (auto* torchError = dynamic_cast<const c10::Error*>(&error)) {
    return trimmed(withoutTorchScriptTrace(torchError->what_without_backtrace()));
  }
  return trimmed(withoutTorchScriptTrace(error.what()));
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

// A model.pt opened for the compute thread, and the reader torch::jit::load takes instead of a path.
// Two guards run before LibTorch sees a byte:
//   - Type. Only a regular file is read. stat() first, which never blocks, then open(O_NONBLOCK), which
//     cannot block on a FIFO either, and fstat() again on what was opened (the path may have changed in
//     between). A FIFO opened the usual way blocks until a writer appears: on the one compute thread that
//     every job shares, that would hang every later job of the process.
//   - Integrity. Every stored entry of the zip archive has its CRC-32 checked against the central
//     directory. LibTorch's bundled miniz is built without CRC checks, so a flipped bit in a tensor loads
//     silently and gives wrong embeddings. PyTorch writes every entry stored (uncompressed); entries
//     compressed by another tool are left to the zip reader.
// torch::jit::load then reads through this object (pread on the same descriptor), so what was checked is
// what is loaded.
#pragma once

#include <caffe2/serialize/read_adapter_interface.h>

#include <cstdint>
#include <memory>
#include <string>

namespace finetuner {

class ModelFile : public caffe2::serialize::ReadAdapterInterface {
 public:
  // Opens `path` (a regular file, else an error naming it) and checks its zip CRCs (an error naming the
  // file and the damaged entry). Errors are c10::Error.
  static std::shared_ptr<ModelFile> openVerified(const std::string& path);

  ~ModelFile() override;
  ModelFile(const ModelFile&) = delete;
  ModelFile& operator=(const ModelFile&) = delete;

  size_t size() const override { return size_; }
  size_t read(uint64_t pos, void* buf, size_t n, const char* what = "") const override;

 private:
  ModelFile(std::string path, int fd, size_t size) : path_(std::move(path)), fd_(fd), size_(size) {}

  void verifyChecksums() const;
  // Reads exactly n bytes at pos, or throws naming the file (truncated, or an I/O error).
  void readExactly(uint64_t pos, void* buf, size_t n, const char* what) const;
  uint32_t crcOf(uint64_t pos, uint64_t n) const;

  std::string path_;
  int fd_;
  size_t size_;
};

}  // namespace finetuner

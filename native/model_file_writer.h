// Writes model.pt for torch::jit::ExportModule so that a write error (a full disk, a quota, an I/O
// error) becomes an exception naming the file instead of an abort. LibTorch's own file writer reports a
// failed write to its zip writer, whose destructor then throws while the first exception unwinds, and
// that is std::terminate. Here the write function always claims success, keeps the first error, and
// stops writing; commit() then checks it, fsyncs (delayed-allocation file systems report a full disk
// only there), and renames the temporary file over the target. The temporary file is created beside
// the target (never replacing anything) and removed by the destructor unless committed.
#pragma once

#include <c10/util/Exception.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace finetuner {

class ModelFileWriter {
 public:
  // `target` is the file to produce; `temporary` a name beside it that does not exist yet.
  ModelFileWriter(std::string target, std::string temporary) : target_(std::move(target)), temporary_(std::move(temporary)) {
    fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    TORCH_CHECK(fd_ >= 0, "cannot save the model to ", target_, ": cannot create ", temporary_, ": ",
                std::strerror(errno));
  }

  ModelFileWriter(const ModelFileWriter&) = delete;
  ModelFileWriter& operator=(const ModelFileWriter&) = delete;

  ~ModelFileWriter() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temporary_.c_str());
  }

  // The writer function LibTorch calls: never fails towards it, never throws (it is called from C).
  size_t write(const void* data, size_t size) noexcept {
    const char* bytes = static_cast<const char*>(data);
    size_t left = error_ == 0 ? size : 0;
    while (left > 0) {
      ssize_t written = ::write(fd_, bytes, left);
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) {
        error_ = written < 0 ? errno : EIO;
        break;
      }
      bytes += written;
      left -= static_cast<size_t>(written);
    }
    return size;
  }

  // Makes the written file the target, or throws naming the target (the temporary file is removed).
  void commit() {
    if (error_ == 0 && ::fsync(fd_) != 0) error_ = errno;
    int closed = ::close(fd_);
    fd_ = -1;
    if (error_ == 0 && closed != 0) error_ = errno;
    TORCH_CHECK(error_ == 0, "cannot save the model to ", target_, ": ", std::strerror(error_));
    TORCH_CHECK(::rename(temporary_.c_str(), target_.c_str()) == 0, "cannot save the model to ", target_,
                ": cannot rename ", temporary_, ": ", std::strerror(errno));
    committed_ = true;
  }

 private:
  std::string target_;
  std::string temporary_;
  int fd_ = -1;
  int error_ = 0;
  bool committed_ = false;
};

}  // namespace finetuner

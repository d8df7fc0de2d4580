#include "model_file.h"

#include "crc32.h"

#include <c10/util/Exception.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace finetuner {
namespace {

// Zip record signatures and sizes (APPNOTE.TXT 4.3).
constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kEndOfCentralDirectory = 0x06054b50;
constexpr uint32_t kZip64EndOfCentralDirectory = 0x06064b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr size_t kLocalHeaderSize = 30;
constexpr size_t kCentralHeaderSize = 46;
constexpr size_t kEndSize = 22;
constexpr size_t kZip64LocatorSize = 20;
constexpr size_t kZip64EndSize = 56;
constexpr size_t kMaxComment = 0xFFFF;

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t u32(const uint8_t* p) { return u16(p) | (static_cast<uint32_t>(u16(p + 2)) << 16); }
uint64_t u64(const uint8_t* p) { return u32(p) | (static_cast<uint64_t>(u32(p + 4)) << 32); }

const char* typeOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

}  // namespace

std::shared_ptr<ModelFile> ModelFile::openVerified(const std::string& path) {
  TORCH_CHECK(path.find('\0') == std::string::npos, "model path contains a NUL byte: ", path.c_str());
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    TORCH_CHECK(errno != ENOENT, "model file not found: ", path);
    TORCH_CHECK(false, "cannot read model file ", path, ": ", std::strerror(errno));
  }
  TORCH_CHECK(S_ISREG(info.st_mode), "model file ", path, " is not a regular file (", typeOf(info.st_mode), ")");
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  TORCH_CHECK(fd >= 0, "cannot open model file ", path, ": ", std::strerror(errno));
  std::shared_ptr<ModelFile> file(new ModelFile(path, fd, 0));
  TORCH_CHECK(::fstat(fd, &info) == 0, "cannot read model file ", path, ": ", std::strerror(errno));
  TORCH_CHECK(S_ISREG(info.st_mode), "model file ", path, " is not a regular file (", typeOf(info.st_mode), ")");
  file->size_ = static_cast<size_t>(info.st_size);
  file->verifyChecksums();
  return file;
}

ModelFile::~ModelFile() { ::close(fd_); }

size_t ModelFile::read(uint64_t pos, void* buf, size_t n, const char* what) const {
  auto* out = static_cast<char*>(buf);
  size_t done = 0;
  while (done < n) {
    ssize_t got = ::pread(fd_, out + done, n - done, static_cast<off_t>(pos + done));
    if (got < 0 && errno == EINTR) continue;
    TORCH_CHECK(got >= 0, "cannot read model file ", path_, " (", what, "): ", std::strerror(errno));
    if (got == 0) break;  // end of file: the caller sees a short read
    done += static_cast<size_t>(got);
  }
  return done;
}

void ModelFile::readExactly(uint64_t pos, void* buf, size_t n, const char* what) const {
  TORCH_CHECK(pos <= size_ && n <= size_ - pos && read(pos, buf, n, what) == n, "corrupt model file ", path_,
              ": truncated (", what, " lies past its end)");
}

uint32_t ModelFile::crcOf(uint64_t pos, uint64_t n) const {
  std::vector<uint8_t> chunk(std::min<uint64_t>(n, 4 << 20));
  uint32_t crc = 0;
  while (n > 0) {
    size_t step = static_cast<size_t>(std::min<uint64_t>(n, chunk.size()));
    readExactly(pos, chunk.data(), step, "entry data");
    crc = crc32Update(crc, chunk.data(), step);
    pos += step;
    n -= step;
  }
  return crc;
}

void ModelFile::verifyChecksums() const {
  const std::string notZip = "corrupt model file " + path_ + ": not a TorchScript zip archive (";
  TORCH_CHECK(size_ >= kEndSize, notZip, "too short)");
  // The end-of-central-directory record is the last 22 bytes, plus a comment of up to 64 KiB.
  size_t tailSize = std::min(size_, kEndSize + kMaxComment);
  std::vector<uint8_t> tail(tailSize);
  readExactly(size_ - tailSize, tail.data(), tailSize, "end of archive");
  size_t end = tailSize - kEndSize + 1;
  do {
    --end;
  } while (end > 0 && !(u32(&tail[end]) == kEndOfCentralDirectory && end + kEndSize + u16(&tail[end + 20]) == tailSize));
  TORCH_CHECK(u32(&tail[end]) == kEndOfCentralDirectory, notZip, "no end of central directory)");
  uint64_t endOffset = size_ - tailSize + end;
  uint64_t entries = u16(&tail[end + 10]);
  uint64_t directorySize = u32(&tail[end + 12]);
  uint64_t directoryOffset = u32(&tail[end + 16]);
  if (entries == 0xFFFF || directorySize == 0xFFFFFFFF || directoryOffset == 0xFFFFFFFF) {
    // Zip64 (archives over 4 GiB, or with 65,535 entries or more): a locator just before the record.
    TORCH_CHECK(endOffset >= kZip64LocatorSize, notZip, "no zip64 locator)");
    uint8_t locator[kZip64LocatorSize];
    readExactly(endOffset - kZip64LocatorSize, locator, sizeof locator, "zip64 locator");
    TORCH_CHECK(u32(locator) == kZip64Locator, notZip, "no zip64 locator)");
    uint8_t record[kZip64EndSize];
    readExactly(u64(locator + 8), record, sizeof record, "zip64 end of central directory");
    TORCH_CHECK(u32(record) == kZip64EndOfCentralDirectory, notZip, "bad zip64 end of central directory)");
    entries = u64(record + 32);
    directorySize = u64(record + 40);
    directoryOffset = u64(record + 48);
  }
  TORCH_CHECK(directoryOffset <= size_ && directorySize <= size_ - directoryOffset, "corrupt model file ", path_,
              ": truncated (central directory lies past its end)");
  std::vector<uint8_t> directory(static_cast<size_t>(directorySize));
  readExactly(directoryOffset, directory.data(), directory.size(), "central directory");

  size_t cursor = 0;
  for (uint64_t index = 0; index < entries; ++index) {
    TORCH_CHECK(cursor + kCentralHeaderSize <= directory.size() && u32(&directory[cursor]) == kCentralHeader,
                "corrupt model file ", path_, ": damaged central directory (entry ", index, ")");
    const uint8_t* header = &directory[cursor];
    uint16_t method = u16(header + 10);
    uint32_t expectedCrc = u32(header + 16);
    uint64_t compressedSize = u32(header + 20);
    uint64_t uncompressedSize = u32(header + 24);
    size_t nameLength = u16(header + 28);
    size_t extraLength = u16(header + 30);
    size_t commentLength = u16(header + 32);
    uint64_t localOffset = u32(header + 42);
    TORCH_CHECK(cursor + kCentralHeaderSize + nameLength + extraLength + commentLength <= directory.size(),
                "corrupt model file ", path_, ": damaged central directory (entry ", index, ")");
    std::string name(reinterpret_cast<const char*>(header + kCentralHeaderSize), nameLength);
    // Zip64 sizes and offset live in extra field 0x0001, in this order, for each 32-bit field at its maximum.
    const uint8_t* extra = header + kCentralHeaderSize + nameLength;
    for (size_t at = 0; at + 4 <= extraLength;) {
      uint16_t id = u16(extra + at);
      size_t length = u16(extra + at + 2);
      const uint8_t* field = extra + at + 4;
      const uint8_t* fieldEnd = field + std::min(length, extraLength - at - 4);
      if (id == 0x0001) {
        for (uint64_t* value : {&uncompressedSize, &compressedSize, &localOffset}) {
          if (*value != 0xFFFFFFFF) continue;
          TORCH_CHECK(field + 8 <= fieldEnd, "corrupt model file ", path_, ": damaged zip64 field of entry '", name, "'");
          *value = u64(field);
          field += 8;
        }
      }
      at += 4 + length;
    }
    cursor += kCentralHeaderSize + nameLength + extraLength + commentLength;

    uint8_t local[kLocalHeaderSize];
    readExactly(localOffset, local, sizeof local, "local header");
    TORCH_CHECK(u32(local) == kLocalHeader, "corrupt model file ", path_, ": damaged local header of entry '", name, "'");
    uint64_t dataOffset = localOffset + kLocalHeaderSize + u16(local + 26) + u16(local + 28);
    if (method != 0) continue;  // compressed by another tool: left to the zip reader
    TORCH_CHECK(compressedSize == uncompressedSize, "corrupt model file ", path_, ": entry '", name,
                "' is stored but its sizes differ");
    uint32_t actualCrc = crcOf(dataOffset, compressedSize);
    TORCH_CHECK(actualCrc == expectedCrc, "corrupt model file ", path_, ": CRC-32 mismatch in entry '", name,
                "' (the file was damaged after it was written; restore or re-export it)");
  }
}

}  // namespace finetuner

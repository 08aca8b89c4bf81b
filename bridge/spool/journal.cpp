#include "bridge/spool/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "bridge/util/log.h"

namespace bridge {
namespace {

constexpr char kMagic[4] = {'S', 'B', 'J', '1'};
constexpr const char* kSuffix = ".journal";

const std::array<uint32_t, 256>& CrcTable() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

void PutU32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint32_t GetU32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return v;
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno) + "."; }

/// RAII for a file descriptor.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool ReadAt(int fd, char* data, size_t n, uint64_t offset) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, data, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    data += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return true;
}

}  // namespace

uint32_t Crc32c(std::string_view data) {
  const auto& table = CrcTable();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string Journal::SegmentPath(uint64_t segment) const {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu", static_cast<unsigned long long>(segment));
  return dir_ + "/" + name + kSuffix;
}

std::unique_ptr<Journal> Journal::Open(const std::string& dir, uint64_t segment_bytes,
                                       std::vector<JournalEntry>& existing, std::string& error) {
  namespace fs = std::filesystem;
  std::unique_ptr<Journal> j(new Journal());
  j->dir_ = dir;
  j->segment_bytes_ = segment_bytes;
  std::error_code ec;
  // A directory we create is ours alone (a mounted volume keeps its own mode).
  if (fs::create_directories(dir, ec) && !ec) {
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    ec.clear();
  }
  if (ec) {
    error = "cannot create the spool directory " + dir + ": " + ec.message() + ".";
    return nullptr;
  }
  j->dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (j->dir_fd_ < 0) {
    error = Errno("cannot open the spool directory " + dir);
    return nullptr;
  }
  std::vector<uint64_t> segments;
  for (const auto& f : fs::directory_iterator(dir, ec)) {
    const std::string name = f.path().filename().string();
    if (name.size() < std::strlen(kSuffix) ||
        name.compare(name.size() - std::strlen(kSuffix), std::string::npos, kSuffix) != 0) {
      continue;
    }
    // Exactly 20 digits that fit 64 bits, and a regular file; anything else
    // was not written by us: set aside and logged, never a crash at start-up.
    uint64_t segment = 0;
    const char* digits = name.data();
    const auto parsed = std::from_chars(digits, digits + 20, segment);
    const bool ours = name.size() == 20 + std::strlen(kSuffix) && parsed.ec == std::errc() &&
                      parsed.ptr == digits + 20 && segment > 0 && f.is_regular_file(ec) &&
                      !f.is_symlink(ec);
    if (!ours) {
      log::Error("spool_file_quarantined", {{"file", name}, {"reason", "not a journal segment"}});
      ++j->quarantined_files_;
      std::error_code ignored;
      fs::rename(f.path(), f.path().string() + ".quarantined", ignored);
      continue;
    }
    segments.push_back(segment);
  }
  if (ec) {
    error = "cannot list the spool directory " + dir + ": " + ec.message() + ".";
    return nullptr;
  }
  std::sort(segments.begin(), segments.end());

  uint64_t drained_segment = 0, drained_offset = 0;
  {
    std::ifstream in(dir + "/drained");
    in >> drained_segment >> drained_offset;
  }
  for (size_t i = 0; i < segments.size(); ++i) {
    const uint64_t seg = segments[i];
    const bool newest = i + 1 == segments.size();
    const std::string path = j->SegmentPath(seg);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.fd < 0) {
      error = Errno("cannot read the spool segment " + path);
      return nullptr;
    }
    struct stat st {};
    ::fstat(fd.fd, &st);
    const auto file_size = static_cast<uint64_t>(st.st_size);
    uint64_t offset = 0;
    while (offset + kHeaderBytes <= file_size) {
      char header[kHeaderBytes];
      if (!ReadAt(fd.fd, header, kHeaderBytes, offset) || std::memcmp(header, kMagic, 4) != 0) {
        break;
      }
      const uint32_t length = GetU32(header + 4);
      if (offset + kHeaderBytes + length > file_size) break;
      std::string payload(length, '\0');
      if (!ReadAt(fd.fd, payload.data(), length, offset + kHeaderBytes) ||
          Crc32c(payload) != GetU32(header + 8)) {
        break;
      }
      const uint64_t end = offset + kHeaderBytes + length;
      const bool drained =
          seg < drained_segment || (seg == drained_segment && end <= drained_offset);
      if (!drained) {
        existing.push_back(JournalEntry{seg, offset, kHeaderBytes + length, std::move(payload)});
      }
      offset = end;
    }
    if (offset < file_size) {
      if (newest) {
        // A record cut short by a crash inside write(): never synced, never answered 2xx.
        log::Warn("spool_torn_tail_truncated", {{"segment", path}, {"bytes", file_size - offset}});
        if (::truncate(path.c_str(), static_cast<off_t>(offset)) != 0) {
          error = Errno("cannot truncate the torn tail of " + path);
          return nullptr;
        }
      } else {
        // Damage inside a synced segment: keep the file for a human, go on.
        log::Error(
            "spool_segment_damaged",
            {{"segment", path}, {"readable_bytes", offset}, {"damaged_bytes", file_size - offset}});
        fs::rename(path, path + ".damaged", ec);
      }
    }
    j->sizes_[seg] = offset;
  }
  const uint64_t next = segments.empty() ? 1 : segments.back();
  if (!j->OpenSegment(next, error)) return nullptr;
  return j;
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

bool Journal::OpenSegment(uint64_t segment, std::string& error) {
  const std::string path = SegmentPath(segment);
  // O_NOFOLLOW: a symlink planted as the newest segment is refused, not
  // written through.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    error = Errno("cannot open the spool segment " + path);
    return false;
  }
  // The new name must survive a crash too.
  if (::fsync(dir_fd_) != 0) {
    ::close(fd);
    error = Errno("cannot sync the spool directory " + dir_);
    return false;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  active_ = segment;
  sizes_.emplace(segment, 0);
  return true;
}

bool Journal::NeedsRoll(size_t payload_size) const {
  const uint64_t size = active_size();
  return size > 0 && size + kHeaderBytes + payload_size > segment_bytes_;
}

bool Journal::Roll(std::string& error) {
  if (::fdatasync(fd_) != 0) {
    error = Errno("cannot sync the spool segment " + SegmentPath(active_));
    return false;
  }
  return OpenSegment(active_ + 1, error);
}

uint64_t Journal::active_size() const {
  auto it = sizes_.find(active_);
  return it == sizes_.end() ? 0 : it->second;
}

bool Journal::Append(std::string_view payload, JournalEntry& where, std::string& error) {
  std::string record(kHeaderBytes + payload.size(), '\0');
  std::memcpy(record.data(), kMagic, 4);
  PutU32(record.data() + 4, static_cast<uint32_t>(payload.size()));
  PutU32(record.data() + 8, Crc32c(payload));
  std::memcpy(record.data() + kHeaderBytes, payload.data(), payload.size());
  where.segment = active_;
  where.offset = sizes_[active_];
  where.size = static_cast<uint32_t>(record.size());
  if (!WriteAll(fd_, record.data(), record.size())) {
    error = Errno("cannot write to the spool segment " + SegmentPath(active_));
    return false;
  }
  sizes_[active_] += record.size();
  return true;
}

bool Journal::Read(const JournalEntry& where, std::string& payload, std::string& error) const {
  const std::string path = SegmentPath(where.segment);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.fd < 0) {
    error = Errno("cannot read the spool segment " + path);
    return false;
  }
  std::string record(where.size, '\0');
  if (where.size < kHeaderBytes || !ReadAt(fd.fd, record.data(), where.size, where.offset) ||
      std::memcmp(record.data(), kMagic, 4) != 0 ||
      GetU32(record.data() + 4) != where.size - kHeaderBytes) {
    error = "the spool record at " + path + ":" + std::to_string(where.offset) + " is unreadable.";
    return false;
  }
  payload.assign(record, kHeaderBytes, std::string::npos);
  if (Crc32c(payload) != GetU32(record.data() + 8)) {
    error =
        "the spool record at " + path + ":" + std::to_string(where.offset) + " fails its checksum.";
    return false;
  }
  return true;
}

void Journal::Release(uint64_t segment) {
  if (segment == active_) return;
  if (sizes_.erase(segment) == 0) return;
  if (::unlink(SegmentPath(segment).c_str()) != 0) {
    log::Warn("spool_release_failed", {{"segment", SegmentPath(segment)}});
  }
}

void Journal::SaveDrained(uint64_t segment, uint64_t end_offset) {
  // A hint that saves republishing after a restart; the id index catches
  // what a stale hint lets through, so it is renamed into place but not synced.
  const std::string tmp = dir_ + "/drained.tmp";
  {
    // O_NOFOLLOW: a symlink planted here must not have its target overwritten.
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd.fd < 0) return;
    const std::string line = std::to_string(segment) + " " + std::to_string(end_offset) + "\n";
    if (::write(fd.fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, dir_ + "/drained", ec);
}

std::vector<uint64_t> Journal::segments() const {
  std::vector<uint64_t> out;
  for (const auto& [seg, bytes] : sizes_) out.push_back(seg);
  return out;
}

uint64_t Journal::disk_bytes() const {
  uint64_t total = 0;
  for (const auto& [seg, bytes] : sizes_) total += bytes;
  return total;
}

}  // namespace bridge

#include "bridge/spool/journal.h"

#include <dirent.h>
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

std::string Journal::SegmentName(uint64_t segment) const {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu", static_cast<unsigned long long>(segment));
  return name + std::string(kSuffix);
}

std::string Journal::SegmentPath(uint64_t segment) const {
  return dir_ + "/" + SegmentName(segment);
}

int Journal::OpenAt(const std::string& name, int flags) const {
  // O_NOFOLLOW: a symlink planted in the volume is refused, never followed.
  return ::openat(dir_fd_, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, 0600);
}

namespace {

/// Reads a small file of decimal numbers ("<a> <b>"); zeros when absent.
void ReadNumbers(int fd, uint64_t& a, uint64_t& b) {
  a = b = 0;
  if (fd < 0) return;
  char buf[64] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return;
  const char* p = buf;
  const char* end = buf + n;
  auto r = std::from_chars(p, end, a);
  if (r.ec != std::errc()) {
    a = 0;
    return;
  }
  p = r.ptr;
  while (p < end && *p == ' ') ++p;
  if (std::from_chars(p, end, b).ec != std::errc()) b = 0;
}

bool EndsWith(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

std::unique_ptr<Journal> Journal::Open(const std::string& dir, uint64_t segment_bytes,
                                       const Visitor& visit, std::string& error) {
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
  // The configured directory itself is the operator's (it may be a symlink
  // to a mount); everything inside it is opened relative to this descriptor.
  j->dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (j->dir_fd_ < 0) {
    error = Errno("cannot open the spool directory " + dir);
    return nullptr;
  }
  if (!j->Scan(visit, error)) return nullptr;
  return j;
}

bool Journal::ListSegments(std::vector<uint64_t>& segments, std::string& error) {
  const int listing = ::dup(dir_fd_);
  DIR* d = listing < 0 ? nullptr : ::fdopendir(listing);
  if (d == nullptr) {
    if (listing >= 0) ::close(listing);
    error = Errno("cannot list the spool directory " + dir_);
    return false;
  }
  ::rewinddir(d);
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  for (const std::string& name : names) {
    if (!EndsWith(name, kSuffix)) continue;
    // Exactly 20 digits that fit 64 bits, and a regular file (not a
    // symlink, not a hard link); anything else was not written by us: set aside and logged,
    // never a crash at start-up.
    uint64_t segment = 0;
    const char* digits = name.data();
    const auto parsed =
        std::from_chars(digits, digits + std::min<size_t>(20, name.size()), segment);
    struct stat st {};
    const bool ours = name.size() == 20 + std::strlen(kSuffix) && parsed.ec == std::errc() &&
                      parsed.ptr == digits + 20 && segment > 0 &&
                      ::fstatat(dir_fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                      S_ISREG(st.st_mode) &&
                      // One name only: a hard link planted as a segment
                      // would have new records written into another file.
                      st.st_nlink == 1;
    if (!ours) {
      log::Error("spool_file_quarantined", {{"file", name}, {"reason", "not a journal segment"}});
      ++quarantined_files_;
      ::renameat(dir_fd_, name.c_str(), dir_fd_, (name + ".quarantined").c_str());
      continue;
    }
    segments.push_back(segment);
  }
  return true;
}

bool Journal::ScanSegment(uint64_t seg, bool newest, const JournalPosition& drained_to,
                          const Visitor& visit, bool& cursor_set, std::string& error) {
  const std::string path = SegmentPath(seg);
  Fd fd(OpenAt(SegmentName(seg), newest ? O_RDWR : O_RDONLY));
  if (fd.fd < 0) {
    error = Errno("cannot read the spool segment " + path);
    return false;
  }
  struct stat st {};
  ::fstat(fd.fd, &st);
  const auto file_size = static_cast<uint64_t>(st.st_size);
  uint64_t offset = 0;
  // One record at a time: the payload buffer is reused, nothing is kept.
  std::string payload;
  while (offset + kHeaderBytes <= file_size) {
    char header[kHeaderBytes];
    if (!ReadAt(fd.fd, header, kHeaderBytes, offset) || std::memcmp(header, kMagic, 4) != 0) {
      break;
    }
    const uint32_t length = GetU32(header + 4);
    if (offset + kHeaderBytes + length > file_size) break;
    payload.resize(length);
    if (!ReadAt(fd.fd, payload.data(), length, offset + kHeaderBytes) ||
        Crc32c(payload) != GetU32(header + 8)) {
      break;
    }
    const uint64_t end = offset + kHeaderBytes + length;
    const bool drained =
        seg < drained_to.segment || (seg == drained_to.segment && end <= drained_to.offset);
    if (!drained) {
      if (!cursor_set) read_ = {seg, offset};
      cursor_set = true;
      if (visit) visit(JournalEntry{seg, offset, kHeaderBytes + length}, payload);
    }
    offset = end;
  }
  if (offset < file_size) {
    if (newest) {
      // A record cut short by a crash inside write(): never synced, never answered 2xx.
      log::Warn("spool_torn_tail_truncated", {{"segment", path}, {"bytes", file_size - offset}});
      if (::ftruncate(fd.fd, static_cast<off_t>(offset)) != 0) {
        error = Errno("cannot truncate the torn tail of " + path);
        return false;
      }
    } else {
      // Damage inside a synced segment: what is readable is drained, the
      // file is kept for a person once it is released.
      log::Error(
          "spool_segment_damaged",
          {{"segment", path}, {"readable_bytes", offset}, {"damaged_bytes", file_size - offset}});
      damaged_.insert(seg);
    }
  }
  sizes_[seg] = offset;
  return true;
}

bool Journal::Scan(const Visitor& visit, std::string& error) {
  std::vector<uint64_t> segments;
  if (!ListSegments(segments, error)) return false;
  std::sort(segments.begin(), segments.end());

  uint64_t drained_segment = 0, drained_offset = 0, high_water = 0, unused = 0;
  // (the drained hint also bounds the numbers used before an upgrade wrote a high-water mark)
  {
    Fd drained(OpenAt("drained", O_RDONLY));
    ReadNumbers(drained.fd, drained_segment, drained_offset);
    Fd hw(OpenAt("highwater", O_RDONLY));
    ReadNumbers(hw.fd, high_water, unused);
  }
  bool cursor_set = false;
  for (size_t i = 0; i < segments.size(); ++i) {
    const bool newest = i + 1 == segments.size();
    if (!ScanSegment(segments[i], newest, JournalPosition{drained_segment, drained_offset}, visit,
                     cursor_set, error)) {
      return false;
    }
  }
  // Never a number used before: a record sealed at (segment, offset) must not
  // find its position again in a later segment of the same name.
  const uint64_t used = std::max(high_water, drained_segment);
  uint64_t next = used + 1;
  if (!segments.empty() && segments.back() >= used) next = segments.back();
  if (!SaveHighWater(next, error) || !OpenSegment(next, error)) return false;
  if (!cursor_set) read_ = {active_, active_size()};
  return true;
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
  if (read_fd_ >= 0) ::close(read_fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

bool Journal::ReplaceFile(const std::string& name, const std::string& content, bool sync,
                          std::string& error) {
  const std::string tmp = name + ".tmp";
  {
    // Whatever was planted under the temporary name goes (unlinkat removes a
    // symlink itself, never its target); O_EXCL|O_NOFOLLOW then creates ours.
    ::unlinkat(dir_fd_, tmp.c_str(), 0);
    Fd fd(OpenAt(tmp, O_WRONLY | O_CREAT | O_EXCL));
    if (fd.fd < 0 || !WriteAll(fd.fd, content.data(), content.size()) ||
        (sync && ::fdatasync(fd.fd) != 0)) {
      error = Errno("cannot write " + dir_ + "/" + tmp);
      return false;
    }
  }
  if (::renameat(dir_fd_, tmp.c_str(), dir_fd_, name.c_str()) != 0) {
    error = Errno("cannot rename " + dir_ + "/" + tmp);
    return false;
  }
  return true;
}

bool Journal::SaveHighWater(uint64_t segment, std::string& error) {
  // Synced with the directory by OpenSegment, before the segment's first record.
  return ReplaceFile("highwater", std::to_string(segment) + "\n", true, error);
}

bool Journal::OpenSegment(uint64_t segment, std::string& error) {
  const std::string path = SegmentPath(segment);
  // O_NOFOLLOW: a symlink planted as the newest segment is refused, not
  // written through.
  const int fd = OpenAt(SegmentName(segment), O_WRONLY | O_CREAT | O_APPEND);
  if (fd < 0) {
    error = Errno("cannot open the spool segment " + path);
    return false;
  }
  // The new name (and the high-water mark) must survive a crash too.
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
  return SaveHighWater(active_ + 1, error) && OpenSegment(active_ + 1, error);
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

bool Journal::ReadNext(JournalPosition limit, JournalEntry& where, std::string& payload,
                       std::string& error) {
  error.clear();
  for (;;) {
    if (!(read_ < limit)) return false;
    const auto size = sizes_.find(read_.segment);
    const uint64_t end = read_.segment == limit.segment ? limit.offset
                         : size == sizes_.end()         ? 0
                                                        : size->second;
    if (read_.offset >= end) {
      // This segment is read: on to the next one on disk.
      const auto next = sizes_.upper_bound(read_.segment);
      if (next == sizes_.end() || next->first > limit.segment) return false;
      if (read_fd_ >= 0) ::close(read_fd_);
      read_fd_ = -1;
      read_ = {next->first, 0};
      continue;
    }
    const std::string path = SegmentPath(read_.segment);
    if (read_fd_ < 0) read_fd_ = OpenAt(SegmentName(read_.segment), O_RDONLY);
    char header[kHeaderBytes];
    bool ok = read_fd_ >= 0 && read_.offset + kHeaderBytes <= end &&
              ReadAt(read_fd_, header, kHeaderBytes, read_.offset) &&
              std::memcmp(header, kMagic, 4) == 0;
    const uint32_t length = ok ? GetU32(header + 4) : 0;
    ok = ok && read_.offset + kHeaderBytes + length <= end;
    if (ok) {
      payload.resize(length);
      ok = ReadAt(read_fd_, payload.data(), length, read_.offset + kHeaderBytes) &&
           Crc32c(payload) == GetU32(header + 8);
    }
    if (!ok) {
      // Checked when the journal was opened or written: changed since by
      // someone else. The rest of the segment cannot be framed: skipped.
      error = "the spool record at " + path + ":" + std::to_string(read_.offset) +
              " is unreadable; the rest of the segment is skipped.";
      damaged_.insert(read_.segment);
      read_.offset = end;
      return false;
    }
    where = JournalEntry{read_.segment, read_.offset, kHeaderBytes + length};
    read_.offset += where.size;
    return true;
  }
}

bool Journal::Read(const JournalEntry& where, std::string& payload, std::string& error) const {
  const std::string path = SegmentPath(where.segment);
  Fd fd(OpenAt(SegmentName(where.segment), O_RDONLY));
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
  const std::string name = SegmentName(segment);
  const int rc = damaged_.erase(segment) > 0
                     ? ::renameat(dir_fd_, name.c_str(), dir_fd_, (name + ".damaged").c_str())
                     : ::unlinkat(dir_fd_, name.c_str(), 0);
  if (rc != 0) log::Warn("spool_release_failed", {{"segment", SegmentPath(segment)}});
}

void Journal::SaveDrained(uint64_t segment, uint64_t end_offset) {
  // A hint that saves republishing after a restart; the id index catches
  // what a stale hint lets through, so it is renamed into place but not synced.
  std::string ignored;
  ReplaceFile("drained", std::to_string(segment) + " " + std::to_string(end_offset) + "\n", false,
              ignored);
}

bool Journal::Quarantine(const JournalEntry& where, std::string_view payload, std::string& kept) {
  kept.clear();
  // Created if missing, then opened without following a symlink planted in
  // its place: a copy is never written outside the spool's directory.
  ::mkdirat(dir_fd_, "quarantine", 0700);
  Fd qdir(OpenAt("quarantine", O_RDONLY | O_DIRECTORY));
  if (qdir.fd < 0) return true;
  const std::string name =
      std::to_string(where.segment) + "-" + std::to_string(where.offset) + ".record";
  // O_EXCL: a record set aside by an earlier pass is not counted twice.
  Fd fd(
      ::openat(qdir.fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.fd < 0) return errno != EEXIST;
  if (WriteAll(fd.fd, payload.data(), payload.size())) kept = dir_ + "/quarantine/" + name;
  return true;
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

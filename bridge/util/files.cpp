#include "bridge/util/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>

namespace bridge::files {
namespace {

/// Closes a file descriptor on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  /// Closes now, reporting the error close() may be the first to see.
  bool Close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

[[noreturn]] void Fail(const std::string& what, const std::string& path) {
  throw std::runtime_error("cannot " + what + " " + path + ": " + std::strerror(errno) + ".");
}

std::string Directory(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// A new, empty file next to `path` that nobody else had a name for.
int CreateTemporary(const std::string& path, std::string& tmp) {
  std::random_device random;
  for (int attempt = 0; attempt < 16; ++attempt) {
    tmp = path + ".tmp." + std::to_string(random() % 1000000000u);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

void WriteAll(int fd, const std::string& content, const std::string& tmp) {
  for (size_t done = 0; done < content.size();) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Fail("write", tmp);
    done += static_cast<size_t>(n);
  }
}

}  // namespace

void WriteAtomically(const std::string& path, const std::string& content, mode_t mode) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) {
      throw std::runtime_error(path + " is a symbolic link; refusing to write through it.");
    }
    if (!S_ISREG(st.st_mode)) throw std::runtime_error(path + " is not a regular file.");
  } else if (errno != ENOENT) {
    Fail("inspect", path);
  }
  std::string tmp;
  Fd fd(CreateTemporary(path, tmp));
  if (fd.get() < 0) Fail("create a file next to", path);
  try {
    WriteAll(fd.get(), content, tmp);
    // fchmod, not the umask-filtered open mode: the mode asked for, exactly.
    if (::fchmod(fd.get(), mode) != 0) Fail("set the mode of", tmp);
    if (::fsync(fd.get()) != 0) Fail("fsync", tmp);
    if (!fd.Close()) Fail("close", tmp);
    if (::rename(tmp.c_str(), path.c_str()) != 0) Fail("replace", path);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  // The rename is durable once the directory entry is.
  const std::string dir = Directory(path);
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) Fail("fsync the directory", dir);
}

}  // namespace bridge::files

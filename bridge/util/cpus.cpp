#include "bridge/util/cpus.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

namespace bridge::cpus {
namespace {

/// The start of a small kernel file (16 KiB at most), or nothing.
std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string text(16 << 10, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

/// A positive whole number, the whole word; anything else (max, -1, inf,
/// junk) is nothing.
std::optional<int64_t> Positive(std::string_view word) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), v);
  if (ec != std::errc() || end != word.data() + word.size() || v <= 0) return std::nullopt;
  return v;
}

std::optional<int64_t> WholeCpus(std::string_view quota, std::string_view period) {
  const std::optional<int64_t> q = Positive(quota), p = Positive(period);
  if (!q || !p) return std::nullopt;
  return *q / *p + (*q % *p != 0 ? 1 : 0);
}

std::string FirstWord(std::istream& in) {
  std::string word;
  in >> word;
  return word;
}

/// cgroup v2's cpu.max: "max 100000" (no limit) or "<quota> <period>".
std::optional<int64_t> LimitV2(const std::string& dir) {
  const std::optional<std::string> text = ReadSmallFile(dir + "/cpu.max");
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  const std::string quota = FirstWord(in);
  return WholeCpus(quota, FirstWord(in));
}

/// cgroup v1's cpu.cfs_quota_us (-1: no limit) and cpu.cfs_period_us.
std::optional<int64_t> LimitV1(const std::string& dir) {
  const std::optional<std::string> quota = ReadSmallFile(dir + "/cpu.cfs_quota_us");
  const std::optional<std::string> period = ReadSmallFile(dir + "/cpu.cfs_period_us");
  if (!quota || !period) return std::nullopt;
  std::istringstream q(*quota), p(*period);
  return WholeCpus(FirstWord(q), FirstWord(p));
}

/// The smallest limit of `path` and each of its ancestors, as directories
/// under `mount`. A container without a cgroup namespace sees the host's
/// path in /proc/self/cgroup while its own cgroup is mounted at `mount`: the
/// ancestors end at `mount` itself, which covers that case.
template <class Read>
void SmallestAlong(const std::string& mount, std::string path, Read read,
                   std::optional<int64_t>& limit) {
  while (!path.empty() && path.back() == '/') path.pop_back();
  for (;;) {
    const std::optional<int64_t> here = read(mount + path);
    if (here && (!limit || *here < *limit)) limit = here;
    const size_t slash = path.rfind('/');
    if (slash == std::string::npos) break;
    path.resize(slash);
  }
}

bool HasController(const std::string& controllers, std::string_view name) {
  std::istringstream names(controllers);
  for (std::string n; std::getline(names, n, ',');) {
    if (n == name) return true;
  }
  return false;
}

/// The CPUs the affinity mask allows (sized for any number of CPUs), or 0.
int AffinityCpus() {
  for (int n = CPU_SETSIZE; n <= (1 << 16); n *= 2) {
    const size_t size = CPU_ALLOC_SIZE(n);
    std::unique_ptr<cpu_set_t, void (*)(cpu_set_t*)> set(CPU_ALLOC(n),
                                                         [](cpu_set_t* s) { CPU_FREE(s); });
    if (!set) return 0;
    CPU_ZERO_S(size, set.get());
    if (sched_getaffinity(0, size, set.get()) == 0) return CPU_COUNT_S(size, set.get());
    if (errno != EINVAL) return 0;
  }
  return 0;
}

}  // namespace

std::optional<int64_t> CgroupLimit(const std::string& root, std::string_view proc_self_cgroup) {
  std::optional<int64_t> limit;
  std::istringstream lines{std::string(proc_self_cgroup)};
  for (std::string line; std::getline(lines, line);) {
    // hierarchy-id:controllers:path
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) {
      SmallestAlong(root, path, LimitV2, limit);
    } else if (HasController(controllers, "cpu")) {
      // Mounted as root/cpu,cpuacct (with root/cpu a link to it) or root/cpu.
      SmallestAlong(root + "/" + controllers, path, LimitV1, limit);
      if (controllers != "cpu") SmallestAlong(root + "/cpu", path, LimitV1, limit);
    }
  }
  return limit;
}

int Usable() {
  int allowed = AffinityCpus();
  if (allowed <= 0) allowed = static_cast<int>(std::thread::hardware_concurrency());
  allowed = std::max(allowed, 1);
  const std::optional<std::string> self = ReadSmallFile("/proc/self/cgroup");
  if (!self) return allowed;
  const std::optional<int64_t> limit = CgroupLimit("/sys/fs/cgroup", *self);
  return limit && *limit < allowed ? static_cast<int>(*limit) : allowed;
}

}  // namespace bridge::cpus

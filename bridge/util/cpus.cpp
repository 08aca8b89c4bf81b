#include "bridge/util/cpus.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace bridge::cpus {
namespace {

std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string text(64 << 10, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

std::optional<double> Number(std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str()) return std::nullopt;
  return v;
}

/// cgroup v2's cpu.max: "max 100000" (no limit) or "<quota> <period>".
std::optional<double> LimitV2(const std::string& dir) {
  const std::optional<std::string> text = ReadSmallFile(dir + "/cpu.max");
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string quota, period;
  in >> quota >> period;
  if (quota == "max") return std::nullopt;
  const std::optional<double> q = Number(quota), p = Number(period);
  if (!q || !p || *q <= 0 || *p <= 0) return std::nullopt;
  return *q / *p;
}

/// cgroup v1's cpu.cfs_quota_us (-1: no limit) and cpu.cfs_period_us.
std::optional<double> LimitV1(const std::string& dir) {
  const std::optional<std::string> quota = ReadSmallFile(dir + "/cpu.cfs_quota_us");
  const std::optional<std::string> period = ReadSmallFile(dir + "/cpu.cfs_period_us");
  if (!quota || !period) return std::nullopt;
  const std::optional<double> q = Number(*quota), p = Number(*period);
  if (!q || !p || *q <= 0 || *p <= 0) return std::nullopt;
  return *q / *p;
}

/// `path` and each of its ancestors, as directories under `mount`. A
/// container without a cgroup namespace sees the host's path in
/// /proc/self/cgroup while its own cgroup is mounted at `mount`: the
/// ancestors end at `mount` itself, which covers that case.
std::vector<std::string> Ancestry(const std::string& mount, std::string path) {
  std::vector<std::string> dirs;
  while (!path.empty() && path.back() == '/') path.pop_back();
  for (;;) {
    dirs.push_back(mount + path);
    const size_t slash = path.rfind('/');
    if (slash == std::string::npos) break;
    path.resize(slash);
  }
  return dirs;
}

void KeepSmaller(std::optional<double>& limit, std::optional<double> next) {
  if (next && (!limit || *next < *limit)) limit = next;
}

}  // namespace

std::optional<double> CgroupLimit(const std::string& root, std::string_view proc_self_cgroup) {
  std::optional<double> limit;
  std::istringstream lines{std::string(proc_self_cgroup)};
  for (std::string line; std::getline(lines, line);) {
    // hierarchy-id:controllers:path
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) {
      for (const std::string& dir : Ancestry(root, path)) KeepSmaller(limit, LimitV2(dir));
      continue;
    }
    std::istringstream names(controllers);
    bool cpu = false;
    for (std::string name; std::getline(names, name, ',');) cpu = cpu || name == "cpu";
    if (!cpu) continue;
    for (const std::string& dir : Ancestry(root + "/" + controllers, path)) {
      KeepSmaller(limit, LimitV1(dir));
    }
    // Some systems mount v1's cpu controller under its own name only.
    if (controllers != "cpu") {
      for (const std::string& dir : Ancestry(root + "/cpu", path)) KeepSmaller(limit, LimitV1(dir));
    }
  }
  return limit;
}

int Usable() {
  int allowed = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) allowed = CPU_COUNT(&set);
  if (allowed <= 0) allowed = static_cast<int>(std::thread::hardware_concurrency());
  allowed = std::max(allowed, 1);
  const std::optional<std::string> self = ReadSmallFile("/proc/self/cgroup");
  if (!self) return allowed;
  if (const std::optional<double> limit = CgroupLimit("/sys/fs/cgroup", *self)) {
    allowed = std::min(allowed, std::max(1, static_cast<int>(std::ceil(*limit - 1e-9))));
  }
  return allowed;
}

}  // namespace bridge::cpus

#include "bridge/util/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace bridge {
namespace {

/// Fields of /proc/self/stat after the command name (field 3 on), or empty.
std::vector<std::string> StatFields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  const size_t close = line.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string::npos) return fields;
  std::istringstream rest(line.substr(close + 2));
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

double StatField(size_t number) {  // 1-based, as in proc(5)
  const std::vector<std::string> f = StatFields();
  return number >= 3 && number - 3 < f.size() ? std::stod(f[number - 3]) : 0;
}

double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  double n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the descriptor opendir itself holds
}

/// The process's start: boot time (/proc/stat btime) + starttime ticks.
double StartTimeSeconds() {
  std::ifstream in("/proc/stat");
  double boot = 0;
  for (std::string key; in >> key;) {
    if (key == "btime") {
      in >> boot;
      break;
    }
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (boot > 0 && ticks > 0) return boot + StatField(22) / ticks;
  return static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
}

}  // namespace

void RegisterProcessMetrics(Metrics& metrics, const std::string& version) {
  metrics.Describe("schedbridge_build_info", "gauge",
                   "Always 1; the version label says which schedbridge is running.");
  metrics.Inc("schedbridge_build_info", {{"version", version}}, 1);
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  metrics.CounterFunc("process_cpu_seconds_total",
                      "Total user and system CPU time spent in seconds.",
                      [ticks] { return (StatField(14) + StatField(15)) / ticks; });
  metrics.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                [page] { return StatField(24) * page; });
  metrics.Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                [] { return StatField(23); });
  metrics.Gauge("process_open_fds", "Number of open file descriptors.", [] { return OpenFds(); });
  metrics.Gauge("process_max_fds", "Maximum number of open file descriptors.", [] {
    rlimit r{};
    return getrlimit(RLIMIT_NOFILE, &r) == 0 ? static_cast<double>(r.rlim_cur) : 0.0;
  });
  const double start = StartTimeSeconds();
  metrics.Gauge("process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                [start] { return start; });
}

}  // namespace bridge

#pragma once

// How many CPUs this process may really use. std::thread::hardware_concurrency
// counts the machine's CPUs; in a Kubernetes pod with a CPU limit, or a
// process pinned with taskset, that is far more than it gets, and every
// thread beyond what it gets only adds preemption and wake-ups.

#include <optional>
#include <string>
#include <string_view>

namespace bridge::cpus {

/// The CPUs the calling thread's affinity mask allows, lowered to the CPU
/// limit of the process's cgroup (its own or an ancestor's quota, rounded
/// up) when it has one. At least 1.
int Usable();

/// The cgroup CPU limit in CPUs (quota / period, the smallest along the
/// path), or nothing when unlimited. `proc_self_cgroup` is the text of
/// /proc/self/cgroup; `root` is where the cgroup file systems are mounted
/// (/sys/fs/cgroup). cgroup v2 (cpu.max) and v1 (cpu.cfs_quota_us and
/// cpu.cfs_period_us) are both read; a file that is missing or unreadable
/// counts as no limit.
std::optional<double> CgroupLimit(const std::string& root, std::string_view proc_self_cgroup);

}  // namespace bridge::cpus

#pragma once

// How many CPUs this process may really use. std::thread::hardware_concurrency
// counts the machine's CPUs; in a Kubernetes pod with a CPU limit, or a
// process pinned with taskset, that is far more than it gets, and every
// thread beyond what it gets only adds preemption and wake-ups.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bridge::cpus {

/// The CPUs the calling thread's affinity mask allows, lowered to the CPU
/// limit of the process's cgroup when it has one. At least 1.
int Usable();

/// The cgroup CPU limit in whole CPUs (quota / period rounded up, the
/// smallest along the path from the process's cgroup up to the mount), or
/// nothing when unlimited. `proc_self_cgroup` is the text of
/// /proc/self/cgroup; `root` is where the cgroup file systems are mounted
/// (/sys/fs/cgroup: v2 there, v1 controllers under root/<controllers> or
/// root/cpu; mounts elsewhere are not looked for). cgroup v2 (cpu.max) and v1
/// (cpu.cfs_quota_us and cpu.cfs_period_us) are both read; a file that is
/// missing, unreadable or not two positive whole numbers counts as no limit.
std::optional<int64_t> CgroupLimit(const std::string& root, std::string_view proc_self_cgroup);

}  // namespace bridge::cpus

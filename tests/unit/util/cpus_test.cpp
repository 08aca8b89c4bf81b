#include "bridge/util/cpus.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "bridge/http/settings.h"

namespace bridge {
namespace {

namespace fs = std::filesystem;

/// A fake cgroup mount: files written under a fresh directory.
class CgroupRoot {
 public:
  CgroupRoot() {
    dir_ = fs::temp_directory_path() / ("sb-cgroup-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  ~CgroupRoot() { fs::remove_all(dir_); }
  void Write(const std::string& relative, const std::string& text) {
    const fs::path path = dir_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  std::string path() const { return dir_.string(); }

 private:
  fs::path dir_;
};

TEST(Cpus, CgroupV2TakesTheSmallestQuotaAlongThePath) {
  CgroupRoot root;
  root.Write("cpu.max", "max 100000\n");
  root.Write("kubepods/pod1/cpu.max", "250000 100000\n");
  root.Write("kubepods/pod1/c1/cpu.max", "max 100000\n");
  EXPECT_DOUBLE_EQ(*cpus::CgroupLimit(root.path(), "0::/kubepods/pod1/c1\n"), 2.5);
  root.Write("kubepods/pod1/c1/cpu.max", "150000 100000\n");
  EXPECT_DOUBLE_EQ(*cpus::CgroupLimit(root.path(), "0::/kubepods/pod1/c1\n"), 1.5);
  // A pod's limit below its container's still binds.
  root.Write("kubepods/pod1/c1/cpu.max", "400000 100000\n");
  EXPECT_DOUBLE_EQ(*cpus::CgroupLimit(root.path(), "0::/kubepods/pod1/c1\n"), 2.5);
}

TEST(Cpus, CgroupV2WithoutALimitIsNone) {
  CgroupRoot root;
  root.Write("cpu.max", "max 100000\n");
  root.Write("a/cpu.max", "max 100000\n");
  EXPECT_FALSE(cpus::CgroupLimit(root.path(), "0::/a\n").has_value());
  // No cpu.max at all (the cpu controller not enabled), or a path missing.
  EXPECT_FALSE(cpus::CgroupLimit(root.path(), "0::/elsewhere/b\n").has_value());
}

TEST(Cpus, CgroupV1ReadsTheCfsQuota) {
  CgroupRoot root;
  // A container without a cgroup namespace: /proc/self/cgroup names the
  // host's path, which does not exist under the container's mount; the
  // mount's own files are the container's.
  root.Write("cpu,cpuacct/cpu.cfs_quota_us", "200000\n");
  root.Write("cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  const std::string self =
      "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n";
  EXPECT_DOUBLE_EQ(*cpus::CgroupLimit(root.path(), self), 2.0);
  // -1 is no limit.
  root.Write("cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  EXPECT_FALSE(cpus::CgroupLimit(root.path(), self).has_value());
  // The path itself, when it is there, and the smaller limit wins.
  root.Write("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
  root.Write("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  EXPECT_DOUBLE_EQ(*cpus::CgroupLimit(root.path(), self), 0.5);
}

TEST(Cpus, NonsenseIsNoLimit) {
  CgroupRoot root;
  root.Write("cpu.max", "lots\n");
  EXPECT_FALSE(cpus::CgroupLimit(root.path(), "0::/\n").has_value());
  root.Write("cpu.max", "0 100000\n");
  EXPECT_FALSE(cpus::CgroupLimit(root.path(), "0::/\n").has_value());
  root.Write("cpu.max", "100000 0\n");
  EXPECT_FALSE(cpus::CgroupLimit(root.path(), "0::/\n").has_value());
  EXPECT_FALSE(cpus::CgroupLimit(root.path(), "garbage without colons\n::\n").has_value());
  EXPECT_FALSE(cpus::CgroupLimit(root.path(), "").has_value());
}

TEST(Cpus, UsableFollowsTheAffinityMask) {
  int usable_pinned = 0;
  int usable_free = cpus::Usable();
  std::thread([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    usable_pinned = cpus::Usable();
  }).join();
  EXPECT_EQ(usable_pinned, 1);
  EXPECT_GE(usable_free, 1);
  EXPECT_LE(usable_free, static_cast<int>(std::thread::hardware_concurrency()));
}

TEST(Cpus, TheWebhookPortRunsOneIoThreadPerUsableCpuUnlessSet) {
  HttpSettings s;
  s.io_threads = 5;
  EXPECT_EQ(IoThreads(s), 5);
  s.io_threads = 0;
  EXPECT_EQ(IoThreads(s), cpus::Usable());
  std::thread([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    EXPECT_EQ(IoThreads(s), 1);
  }).join();
}

}  // namespace
}  // namespace bridge

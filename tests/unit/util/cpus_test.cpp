#include "bridge/util/cpus.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "support.h"

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

TEST(Cpus, CgroupV2TakesTheSmallestQuotaAlongThePathRoundedUp) {
  CgroupRoot root;
  root.Write("cpu.max", "max 100000\n");
  root.Write("kubepods/pod1/cpu.max", "250000 100000\n");
  // The container's cpu.max set to `max`, then the limit seen from it.
  const auto limit_with = [&](const char* max, const char* self = "0::/kubepods/pod1/c1\n") {
    root.Write("kubepods/pod1/c1/cpu.max", max);
    return cpus::CgroupLimit(root.path(), self);
  };
  EXPECT_EQ(limit_with("max 100000\n"), 3);
  EXPECT_EQ(limit_with("150000 100000\n"), 2);
  // A pod's limit below its container's still binds.
  EXPECT_EQ(limit_with("400000 100000\n"), 3);
  // Half a CPU is one; exactly two is two; a trailing slash is the same path.
  root.Write("kubepods/pod1/cpu.max", "max 100000\n");
  EXPECT_EQ(limit_with("50000 100000\n", "0::/kubepods/pod1/c1/\n"), 1);
  EXPECT_EQ(limit_with("200000 100000\n"), 2);
  // The largest quota the kernel takes: a limit far above any machine.
  EXPECT_EQ(limit_with("17592186044415 1000\n"), 17592186045);
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
  EXPECT_EQ(cpus::CgroupLimit(root.path(), self), 2);
  // The path itself, when it is there: the smaller limit wins, either way.
  root.Write("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
  root.Write("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(cpus::CgroupLimit(root.path(), self), 1);
  root.Write("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "400000\n");
  EXPECT_EQ(cpus::CgroupLimit(root.path(), self), 2);
  // -1 is no limit.
  root.Write("cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  root.Write("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n");
  EXPECT_FALSE(cpus::CgroupLimit(root.path(), self).has_value());
}

TEST(Cpus, CgroupV1UnderTheCpuMountAlone) {
  CgroupRoot root;
  root.Write("cpu/cpu.cfs_quota_us", "300000\n");
  root.Write("cpu/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(cpus::CgroupLimit(root.path(), "3:cpu,cpuacct:/\n"), 3);
  EXPECT_EQ(cpus::CgroupLimit(root.path(), "3:cpuacct,cpu:/x\n"), 3);
  // cpuacct or cpuset alone is not the cpu controller.
  EXPECT_FALSE(cpus::CgroupLimit(root.path(), "3:cpuacct:/\n4:cpuset:/\n").has_value());
  // A quota without a period is no limit.
  CgroupRoot half;
  half.Write("cpu/cpu.cfs_quota_us", "300000\n");
  EXPECT_FALSE(cpus::CgroupLimit(half.path(), "1:cpu:/\n").has_value());
}

TEST(Cpus, AHybridLayoutTakesTheSmallerOfV1AndV2) {
  CgroupRoot root;
  root.Write("cpu.max", "500000 100000\n");
  root.Write("cpu/cpu.cfs_quota_us", "200000\n");
  root.Write("cpu/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(cpus::CgroupLimit(root.path(), "1:cpu:/\n0::/\n"), 2);
  EXPECT_EQ(cpus::CgroupLimit(root.path(), "0::/\n"), 5);
}

TEST(Cpus, NonsenseIsNoLimit) {
  CgroupRoot root;
  for (const char* text :
       {"lots\n", "0 100000\n", "100000 0\n", "inf 100000\n", "nan 100000\n", "1e400 100000\n",
        "100000\n", "100000 1x\n", "-100000 100000\n", "99999999999999999999999 100000\n", ""}) {
    root.Write("cpu.max", text);
    EXPECT_FALSE(cpus::CgroupLimit(root.path(), "0::/\n").has_value()) << text;
  }
  EXPECT_FALSE(cpus::CgroupLimit(root.path(), "garbage without colons\n::\n").has_value());
  EXPECT_FALSE(cpus::CgroupLimit(root.path(), "").has_value());
}

TEST(Cpus, UsableFollowsTheAffinityMask) {
  int usable_pinned = 0;
  const int usable_free = cpus::Usable();
  testing::OnOneCpu([&] { usable_pinned = cpus::Usable(); });
  EXPECT_EQ(usable_pinned, 1);
  EXPECT_GE(usable_free, 1);
  EXPECT_LE(usable_free, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace
}  // namespace bridge

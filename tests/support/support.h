#pragma once

// Helpers shared by every test tier.

#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bridge/pipeline/publisher.h"
#include "bridge/providers/registry.h"

namespace bridge::testing {

/// Path of a fixture under tests/fixtures.
std::string FixturePath(const std::string& relative);
std::string ReadFile(const std::string& path);
/// A fresh directory under /tmp (mkdtemp), for one test's files; removed with
/// everything in it when the test binary exits.
std::string TempDir(const std::string& prefix);

/// A provider example re-serialized compactly, keys in file order: the bytes
/// a provider actually sends (and what the signature vectors sign).
std::string CompactFixture(const std::string& relative);

std::string HmacSha256Hex(const std::string& secret, const std::string& message);

/// Validates `json` against schemas/<schema_file>; returns "" when valid, else
/// the validator's complaint.
std::string SchemaErrors(const std::string& schema_file, const std::string& json);

#define EXPECT_VALID_AGAINST(schema_file, json) \
  EXPECT_EQ(::bridge::testing::SchemaErrors(schema_file, json), "") << (json)

/// Normalizes `body` with the named built-in provider (source "default",
/// received_at 2026-01-02T03:04:05Z).
NormalizeResult NormalizeWith(const std::string& provider, const std::string& body,
                              const std::string& content_type = "application/json",
                              const std::string& source = "default");

/// Normalizes and requires success; every event is checked against the schema.
std::vector<CanonicalEvent> EventsOf(const std::string& provider, const std::string& body,
                                     const std::string& source = "default");

/// Normalizes and requires a dead letter.
NormalizeFailure FailureOf(const std::string& provider, const std::string& body);

/// The Java client's default partitioner: murmur2(key) & 0x7fffffff % n.
int32_t Murmur2Partition(const std::string& key, int32_t partitions);

/// A Publisher that records messages. Modes: ack at once, fail at once, or
/// hold everything until Release().
class FakePublisher final : public Publisher {
 public:
  enum class Mode { kAck, kFail, kHold, kTooLarge };

  std::shared_ptr<PendingPublish> Publish(std::vector<OutgoingMessage> messages,
                                          std::chrono::steady_clock::time_point deadline,
                                          PendingPublish::Completion on_complete) override;
  bool Ready() const override { return ready; }
  size_t MaxMessageBytes() const override { return max_message_bytes; }

  /// Acknowledges (or fails) everything held so far.
  void Release(bool ok);
  std::vector<OutgoingMessage> Published() const;

  // Set by the test thread, read by server threads.
  std::atomic<Mode> mode{Mode::kAck};
  std::atomic<bool> ready{true};
  std::atomic<size_t> max_message_bytes{std::numeric_limits<size_t>::max()};

 private:
  mutable std::mutex mu_;
  std::vector<OutgoingMessage> published_;
  std::vector<std::shared_ptr<PendingPublish>> held_;
};

/// Runs `body` on a new thread whose affinity allows one CPU only, and waits.
inline void OnOneCpu(const std::function<void()>& body) {
  std::thread([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    body();
  }).join();
}

}  // namespace bridge::testing

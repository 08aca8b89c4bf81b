#pragma once

// The limits the webhook port's transport enforces: their names (the `limit`
// label of schedbridge_http_limited_total), the fixed ones, and the shared
// counters (the body budget, the connection caps).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace bridge {

/// Why a request was cut short: the `limit` label of schedbridge_http_limited_total.
namespace limit {
constexpr const char* kHeadTimeout = "head_timeout";
constexpr const char* kBodyTimeout = "body_timeout";
constexpr const char* kIdleTimeout = "idle_timeout";
constexpr const char* kWriteTimeout = "write_timeout";
constexpr const char* kHeaders = "headers";
constexpr const char* kHeadBytes = "head_bytes";
constexpr const char* kBodyBytes = "body_bytes";
constexpr const char* kBodyBudget = "body_budget";
constexpr const char* kChunkLine = "chunk_line";
constexpr const char* kTrailerBytes = "trailer_bytes";
constexpr const char* kTarget = "target_bytes";
constexpr const char* kConnections = "connections";
constexpr const char* kConnectionsPerAddress = "connections_per_address";
constexpr const char* kAll[] = {
    kHeadTimeout, kBodyTimeout, kIdleTimeout,          kWriteTimeout, kHeaders,
    kHeadBytes,   kBodyBytes,   kBodyBudget,           kChunkLine,    kTrailerBytes,
    kTarget,      kConnections, kConnectionsPerAddress};
}  // namespace limit

constexpr size_t kMaxTargetBytes = 8192;  // 414 above
/// A chunk-size line with its extensions (which we ignore): the parser keeps
/// it whole until its CRLF, so it is bounded on its own.
constexpr size_t kMaxChunkLineBytes = 4096;
constexpr size_t kReadChunk = 64 << 10;
/// After an answer that leaves a body unread: how long and how much the
/// client may still send before the close (so it reads the answer, not a reset).
constexpr auto kLingerTime = std::chrono::milliseconds(2000);
constexpr size_t kLingerBytes = 4 << 20;

/// A budget of bytes shared by every connection (bodies in flight).
/// Thread-safe, lock-free.
class ByteBudget {
 public:
  explicit ByteBudget(size_t capacity) : capacity_(capacity) {}
  /// Takes `n` bytes if they fit; false (nothing taken) otherwise.
  bool TryTake(size_t n);
  void Give(size_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }
  size_t used() const { return used_.load(std::memory_order_relaxed); }
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  std::atomic<size_t> used_{0};
};

/// Open connections, in all and per client address. Thread-safe.
class ConnectionLimiter {
 public:
  enum class Admission { kAdmitted, kTooManyInAll, kTooManyFromAddress };
  ConnectionLimiter(size_t max_total, size_t max_per_address)
      : max_total_(max_total), max_per_address_(max_per_address) {}
  Admission Admit(const std::string& address);
  /// Frees what Admit() admitted for `address`.
  void Release(const std::string& address);
  size_t open() const;

 private:
  const size_t max_total_, max_per_address_;
  mutable std::mutex mu_;
  size_t open_ = 0;
  std::map<std::string, size_t, std::less<>> per_address_;
};

/// The `limit` label values of schedbridge_http_limited_total.
const std::vector<std::string>& WebhookLimitNames();

/// Raises the soft limit on open files to the hard limit; returns the new
/// soft limit. Every connection is a descriptor.
uint64_t RaiseOpenFileLimit();

}  // namespace bridge

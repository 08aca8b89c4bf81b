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
/// Compared by address (a parser records which one stopped it), so each is one
/// inline array, the same object in every file (a string literal need not be).
namespace limit {
inline constexpr char kHeadTimeout[] = "head_timeout";
inline constexpr char kBodyTimeout[] = "body_timeout";
inline constexpr char kIdleTimeout[] = "idle_timeout";
inline constexpr char kWriteTimeout[] = "write_timeout";
inline constexpr char kHeaders[] = "headers";
inline constexpr char kHeadBytes[] = "head_bytes";
inline constexpr char kBodyBytes[] = "body_bytes";
inline constexpr char kBodyBudget[] = "body_budget";
inline constexpr char kChunkLine[] = "chunk_line";
inline constexpr char kTrailerBytes[] = "trailer_bytes";
inline constexpr char kTarget[] = "target_bytes";
inline constexpr char kConnections[] = "connections";
inline constexpr char kConnectionsPerAddress[] = "connections_per_address";
inline constexpr const char* kAll[] = {
    kHeadTimeout, kBodyTimeout, kIdleTimeout,          kWriteTimeout, kHeaders,
    kHeadBytes,   kBodyBytes,   kBodyBudget,           kChunkLine,    kTrailerBytes,
    kTarget,      kConnections, kConnectionsPerAddress};
}  // namespace limit

/// What made a request malformed, for schedbridge_http_malformed_total.
namespace malformed {
inline constexpr char kHead[] = "head";        // request line or header fields unreadable
inline constexpr char kFraming[] = "framing";  // the body's length would have to be guessed
inline constexpr char kBody[] = "body";        // a chunked body broken or cut short
inline constexpr const char* kAll[] = {kHead, kFraming, kBody};
}  // namespace malformed

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

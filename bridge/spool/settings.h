#pragma once

// The durable spool's settings (spool/spool.h).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bridge {

struct SpoolOptions {
  std::string dir;
  uint64_t max_bytes = uint64_t{1} << 30;  // journal files on disk; beyond it Append is kFull
  uint64_t segment_bytes = 16 << 20;
  size_t max_in_flight = 512;  // records published at once while draining
  std::chrono::milliseconds retry_backoff_initial{500};
  std::chrono::milliseconds retry_backoff_max{30000};
  std::string replica_id;  // recorded with the ids this spool publishes
  /// Records are sealed with HMAC-SHA256 under keys[0] (from a file outside
  /// the spool's volume); a record any key verifies is accepted, so the key
  /// can be rotated while records wait. Required: Open fails without one.
  std::vector<std::string> keys;
  /// The only topics a record may publish to (the events and dead-letter
  /// topics). A record naming another is quarantined.
  std::vector<std::string> topics;
  /// Where a record too old to publish goes as a dead letter (one of `topics`).
  std::string dlq_topic;
  /// A record older than this when drained (by its sealed spooled_at time) is
  /// dead-lettered (reason stale_spool_record), not published: beyond the
  /// dedup window its ids may be forgotten, so a copy could be published
  /// twice. 0 = no bound.
  std::chrono::milliseconds max_age{0};
};

}  // namespace bridge

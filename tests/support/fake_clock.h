#pragma once

// A test clock: fixed until told otherwise.

#include <atomic>
#include <chrono>
#include <cstdint>

#include "bridge/util/clock.h"

namespace bridge {

/// A clock that only moves when told to. Thread-safe.
class FixedClock final : public Clock {
 public:
  explicit FixedClock(std::chrono::system_clock::time_point t)
      : now_(t.time_since_epoch().count()) {}
  static FixedClock AtUnixSeconds(int64_t s) {
    return FixedClock(std::chrono::system_clock::time_point(std::chrono::seconds(s)));
  }
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::system_clock::duration(now_.load()));
  }
  void Set(std::chrono::system_clock::time_point t) { now_ = t.time_since_epoch().count(); }

 private:
  std::atomic<std::chrono::system_clock::rep> now_;
};

}  // namespace bridge

#pragma once

#include <chrono>

namespace bridge {

/// The wall clock, behind an interface so signature tolerance and received_at
/// are testable with fixed times (tests/support/fake_clock.h).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
};

}  // namespace bridge

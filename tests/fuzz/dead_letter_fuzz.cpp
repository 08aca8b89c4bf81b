// Fuzz target: ParseDeadLetter, which `replay` runs on every record of the
// dead-letter topic (anyone able to write the topic controls these bytes).
// It must never crash, and a record it accepts must write back (ToJson) to
// JSON that parses to the same record.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "bridge/model/dead_letter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto record = bridge::ParseDeadLetter(text, error);
  if (!record) {
    if (error.empty()) std::abort();  // every refusal says why
    return 0;
  }
  const std::string written = bridge::ToJson(*record);
  const auto again = bridge::ParseDeadLetter(written, error);
  if (!again) std::abort();
  if (again->body != record->body || again->provider != record->provider ||
      again->source != record->source || again->reason != record->reason ||
      again->received_at != record->received_at || again->attempt != record->attempt ||
      again->headers != record->headers || again->booking_uid != record->booking_uid ||
      again->provider_event_type != record->provider_event_type) {
    std::abort();
  }
  return 0;
}

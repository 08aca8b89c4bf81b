#pragma once

// The dead-letter record (schemas/dead-letter.v1.json): an authenticated
// delivery that could not be normalized, kept raw so it can be replayed.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bridge {

inline constexpr std::string_view kDeadLetterSchema = "dead-letter/v1";

/// Reason codes. Stable: operators filter replays on them.
namespace reason {
inline constexpr std::string_view kInvalidJson = "invalid_json";
inline constexpr std::string_view kNotAnObject = "not_an_object";
inline constexpr std::string_view kCustomTemplate = "custom_template";
inline constexpr std::string_view kUnknownEventType = "unknown_event_type";
inline constexpr std::string_view kMissingBookingId = "missing_booking_id";
inline constexpr std::string_view kNormalizerError = "normalizer_error";
/// Normalized, but an event is larger than Kafka accepts (message.max.bytes):
/// the delivery is kept raw instead of refused on every retry.
inline constexpr std::string_view kEventTooLarge = "event_too_large";
/// A spooled record older than the dedup window when it could be drained: its
/// events (as spooled, in the body) were not published, a person decides.
inline constexpr std::string_view kStaleSpoolRecord = "stale_spool_record";
}  // namespace reason

struct DeadLetterRecord {
  std::string dead_letter_id;  // deterministic: provider + digest of the body
  std::string reason;
  std::string detail;  // one sentence
  std::string provider;
  std::string source;
  std::optional<std::string> provider_event_type;
  std::optional<std::string> booking_uid;  // when one could be read
  std::string received_at;
  std::vector<std::pair<std::string, std::string>> headers;  // allow-listed only
  std::string body;                                          // raw bytes
  int attempt = 1;
  std::string schedbridge_version;

  /// Kafka key: the booking uid if one could be read, else "<provider>:<dead_letter_id>".
  std::string Key() const;
};

std::string MakeDeadLetterId(std::string_view provider, std::string_view body);

/// Compact JSON; the body is a UTF-8 string when valid UTF-8, else base64.
std::string ToJson(const DeadLetterRecord& record);

/// Reads a record written by ToJson (any schedbridge version of dead-letter/v1).
/// nullopt with `error` set when it is not one.
std::optional<DeadLetterRecord> ParseDeadLetter(std::string_view json, std::string& error);

}  // namespace bridge

#pragma once

// A provider is pure: raw bytes, headers, the source's secrets and a clock in;
// a verdict and canonical events out. It never sees HTTP, Kafka or config files.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "bridge/model/dead_letter.h"
#include "bridge/model/event.h"
#include "bridge/providers/sources.h"
#include "bridge/util/clock.h"

namespace bridge {

/// Request headers with case-insensitive lookup. Built by the ingress, or
/// from a dead-letter record on replay.
class Headers {
 public:
  Headers() = default;
  explicit Headers(std::vector<std::pair<std::string, std::string>> items)
      : items_(std::move(items)) {}
  void Add(std::string name, std::string value) {
    items_.emplace_back(std::move(name), std::move(value));
  }
  /// The first value of `name`, if present.
  std::optional<std::string_view> Get(std::string_view name) const;
  /// How many times `name` occurs.
  size_t Count(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

/// One webhook delivery as the provider sent it.
struct Delivery {
  std::string_view body;
  const Headers* headers = nullptr;
  std::map<std::string, std::string> query;  // URL query parameters
};

enum class VerifyStatus {
  kOk,
  kMissingSignature,
  kMalformedSignature,
  kBadSignature,
  kTimestampOutOfTolerance,
  kUnsignedRejected,
  kNoSecretConfigured,
  /// The signed body's own time is older than max_delivery_age: a possible
  /// replay of a captured delivery that duplicate detection has forgotten.
  kStaleDelivery,
};

/// A stable short code per status, for counters and logs.
std::string_view VerifyStatusCode(VerifyStatus s);

struct VerifyResult {
  VerifyStatus status = VerifyStatus::kOk;
  std::string message;  // one sentence, never containing a secret or signature
  bool ok() const { return status == VerifyStatus::kOk; }
  static VerifyResult Ok() { return {}; }
};

/// Where a normalizer could not go on: becomes a dead-letter record.
struct NormalizeFailure {
  std::string reason;  // a code from bridge::reason
  std::string detail;
  std::optional<std::string> provider_event_type;
  std::optional<std::string> booking_uid;
};

struct NormalizeContext {
  std::string source;
  std::string received_at;  // RFC 3339
};

using NormalizeResult = std::variant<std::vector<CanonicalEvent>, NormalizeFailure>;

class Provider {
 public:
  virtual ~Provider() = default;
  /// Path segment and `provider` field value: "calcom".
  virtual std::string_view Name() const = 0;
  /// Media types (lowercase, no parameters) this provider is known to send:
  /// JSON (or none given) unless the provider says otherwise.
  virtual bool AcceptsMediaType(std::string_view media_type) const {
    return media_type.empty() || media_type == "application/json";
  }
  /// Header names worth keeping in a dead-letter record (never signatures).
  virtual std::vector<std::string_view> KeptHeaders() const = 0;
  /// Checks a source's provider-specific settings; an error sentence, or "".
  virtual std::string CheckSource(const SourceConfig& source) const {
    return source.options.empty() ? std::string()
                                  : "unknown option \"" + source.options.begin()->first +
                                        "\" for " + std::string(Name()) + ".";
  }
  virtual VerifyResult Verify(const Delivery& delivery, const SourceConfig& source,
                              const Clock& clock) const = 0;
  /// True when the signature itself covers a delivery time checked against a
  /// tolerance (Calendly's t=). Otherwise a replay is bounded only by duplicate
  /// detection and, when set, max_delivery_age on the signed body's time.
  virtual bool SignsDeliveryTime() const { return false; }
  /// The provider event types (triggers) the normalizer maps to canonical
  /// events: what `subscriptions apply` subscribes to, where the provider's
  /// API accepts them.
  virtual std::vector<std::string> Triggers() const = 0;
  virtual NormalizeResult Normalize(const Delivery& delivery,
                                    const NormalizeContext& context) const = 0;
};

/// Normalizes one delivery, with a safety net: a throwing normalizer becomes a
/// `normalizer_error` failure, never a crash.
NormalizeResult NormalizeSafely(const Provider& provider, const Delivery& delivery,
                                const NormalizeContext& context);

/// Helpers shared by provider implementations.
namespace provider_util {

/// True when `expected_hex` (either case) equals hex(HMAC-SHA256(secret, parts))
/// for any secret. Constant time per secret.
bool AnySecretMatchesHex(const std::vector<std::string>& secrets, std::string_view expected_hex,
                         std::initializer_list<std::string_view> parts);

/// True when any of `expected_hexes` (either case) equals the HMAC-SHA256 of
/// `parts` under any secret: one MAC per secret, compared against every
/// expected value in constant time, without an early exit.
bool AnySecretMatchesAnyHex(const std::vector<std::string>& secrets,
                            const std::vector<std::string>& expected_hexes,
                            std::initializer_list<std::string_view> parts);

/// The common scheme (Cal.com, SavvyCal): `header` sent once, carrying the
/// hex HMAC-SHA256 of the raw body, optionally after "sha256=" (any case).
VerifyResult VerifyBodyHmacHeader(const Delivery& d, const SourceConfig& source,
                                  std::string_view header);

std::string Lower(std::string_view s);
std::string_view Trim(std::string_view s);

}  // namespace provider_util

}  // namespace bridge

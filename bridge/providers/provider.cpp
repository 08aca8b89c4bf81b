#include "bridge/providers/provider.h"

#include <strings.h>

#include <exception>

#include "bridge/crypto/hmac.h"

namespace bridge {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::optional<std::string_view> Headers::Get(std::string_view name) const {
  for (const auto& [k, v] : items_) {
    if (EqualsIgnoreCase(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

size_t Headers::Count(std::string_view name) const {
  size_t n = 0;
  for (const auto& item : items_) n += EqualsIgnoreCase(item.first, name) ? 1 : 0;
  return n;
}

std::string_view VerifyStatusCode(VerifyStatus s) {
  switch (s) {
    case VerifyStatus::kOk:
      return "ok";
    case VerifyStatus::kMissingSignature:
      return "missing_signature";
    case VerifyStatus::kMalformedSignature:
      return "malformed_signature";
    case VerifyStatus::kBadSignature:
      return "bad_signature";
    case VerifyStatus::kTimestampOutOfTolerance:
      return "timestamp_out_of_tolerance";
    case VerifyStatus::kUnsignedRejected:
      return "unsigned_rejected";
    case VerifyStatus::kNoSecretConfigured:
      return "no_secret_configured";
    case VerifyStatus::kStaleDelivery:
      return "stale_delivery";
  }
  return "unknown";
}

NormalizeResult NormalizeSafely(const Provider& provider, const Delivery& delivery,
                                const NormalizeContext& context) {
  try {
    return provider.Normalize(delivery, context);
  } catch (const std::exception& e) {
    return NormalizeFailure{std::string(reason::kNormalizerError),
                            std::string("the normalizer failed: ") + e.what(), std::nullopt,
                            std::nullopt};
  }
}

namespace provider_util {

bool AnySecretMatchesHex(const std::vector<std::string>& secrets, std::string_view expected_hex,
                         std::initializer_list<std::string_view> parts) {
  std::string expected;
  if (!crypto::HexDecode(expected_hex, expected)) return false;
  bool matched = false;
  // Every secret is tried (no early exit), so timing does not reveal which
  // rotation slot matched.
  for (const std::string& secret : secrets) {
    const std::string mac = crypto::Hmac(crypto::Digest::kSha256, secret, parts);
    matched |= crypto::ConstantTimeEquals(mac, expected);
  }
  return matched;
}

bool AnySecretMatchesAnyHex(const std::vector<std::string>& secrets,
                            const std::vector<std::string>& expected_hexes,
                            std::initializer_list<std::string_view> parts) {
  std::vector<std::string> expected;
  expected.reserve(expected_hexes.size());
  for (const std::string& hex : expected_hexes) {
    std::string raw;
    if (crypto::HexDecode(hex, raw)) expected.push_back(std::move(raw));
  }
  if (expected.empty()) return false;
  bool matched = false;
  for (const std::string& secret : secrets) {
    const std::string mac = crypto::Hmac(crypto::Digest::kSha256, secret, parts);
    for (const std::string& e : expected) matched |= crypto::ConstantTimeEquals(mac, e);
  }
  return matched;
}

VerifyResult VerifyBodyHmacHeader(const Delivery& d, const SourceConfig& source,
                                  std::string_view header) {
  const std::string name(header);
  const size_t count = d.headers->Count(header);
  if (count > 1) return {VerifyStatus::kMalformedSignature, name + " was sent more than once."};
  if (count == 0) {
    if (source.allow_unsigned) return VerifyResult::Ok();
    return {VerifyStatus::kMissingSignature, "missing " + name + " header."};
  }
  std::string_view sig = Trim(*d.headers->Get(header));
  if (sig.size() > 7 && Lower(sig.substr(0, 7)) == "sha256=") sig.remove_prefix(7);
  if (sig.size() != 64) {
    return {VerifyStatus::kMalformedSignature,
            name + " must be 64 hex characters of HMAC-SHA256 (optionally after sha256=)."};
  }
  if (source.secrets.empty()) {
    if (source.allow_unsigned) return VerifyResult::Ok();
    return {VerifyStatus::kNoSecretConfigured, "no secret is configured for this source."};
  }
  if (!AnySecretMatchesHex(source.secrets, sig, {d.body})) {
    return {VerifyStatus::kBadSignature,
            name + " does not match the body under any configured secret."};
  }
  return VerifyResult::Ok();
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace provider_util
}  // namespace bridge

// Fuzz target: one provider's verify + normalize path over arbitrary bytes.
// FUZZ_PROVIDER names the provider ("calcom", ...). The body is signed with
// the provider's own scheme half of the time, so inputs reach the normalizer
// through Verify exactly as a live delivery does; the other half exercises
// Verify with a signature header made from the input. Orufy alternates between
// its token and its generic HMAC mode (SHA-256/512, hex/base64).

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bridge/crypto/hmac.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/providers/registry.h"
#include "tests/support/fake_clock.h"

namespace {

using namespace bridge;

Headers SignedHeaders(const std::string& provider, const std::string& body, bool valid,
                      const std::string& garbage) {
  Headers h;
  h.Add("Content-Type", "application/json");
  const std::string mac =
      crypto::HexLower(crypto::Hmac(crypto::Digest::kSha256, "fuzz-secret", body));
  if (provider == "calcom") {
    h.Add("X-Cal-Signature-256", valid ? mac : garbage);
  } else if (provider == "calendly") {
    const std::string t = "1741684361";
    h.Add("Calendly-Webhook-Signature",
          valid ? "t=" + t + ",v1=" +
                      crypto::HexLower(
                          crypto::Hmac(crypto::Digest::kSha256, "fuzz-secret", {t, ".", body}))
                : garbage);
  } else if (provider == "savvycal") {
    h.Add("x-savvycal-signature", valid ? "sha256=" + mac : garbage);
  } else {
    h.Add("Authorization", valid ? "Bearer fuzz-secret" : garbage);
  }
  return h;
}

/// Orufy's generic HMAC mode, chosen by bits of the first byte: SHA-256 or
/// SHA-512, hex or base64, in X-Fuzz-Signature.
void UseOrufyHmac(SourceConfig& source, Headers& h, const std::string& body, uint8_t mode,
                  bool valid, const std::string& garbage) {
  const bool sha512 = (mode & 4) != 0, base64 = (mode & 8) != 0;
  source.options = {{"auth", "hmac"},
                    {"hmac_header", "X-Fuzz-Signature"},
                    {"hmac_algorithm", sha512 ? "sha512" : "sha256"},
                    {"hmac_encoding", base64 ? "base64" : "hex"}};
  const std::string mac =
      crypto::Hmac(sha512 ? crypto::Digest::kSha512 : crypto::Digest::kSha256, "fuzz-secret", body);
  h.Add("X-Fuzz-Signature",
        valid ? (base64 ? crypto::Base64(mac) : crypto::HexLower(mac)) : garbage);
}

/// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
/// Every byte we write to Kafka must pass, whatever the input's escapes said.
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

bool ValidMessage(const OutgoingMessage& m) {
  if (!ValidUtf8(m.key) || !ValidUtf8(m.value)) return false;
  for (const auto& [k, v] : m.headers) {
    if (!ValidUtf8(k) || !ValidUtf8(v)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Provider* provider = ProviderRegistry::BuiltIn().Find(FUZZ_PROVIDER);
  static const FixedClock clock = FixedClock::AtUnixSeconds(1741684361);
  SourceConfig source;
  source.provider = FUZZ_PROVIDER;
  source.secrets = {"fuzz-secret"};
  const std::string body(reinterpret_cast<const char*>(data), size);
  const bool valid = size == 0 || (data[0] & 1) == 0;
  const std::string garbage = body.substr(0, 200);
  Headers headers = SignedHeaders(FUZZ_PROVIDER, body, valid, garbage);
  if (std::string_view(FUZZ_PROVIDER) == "orufy" && size > 0 && (data[0] & 2) != 0) {
    UseOrufyHmac(source, headers, body, data[0], valid, garbage);
  }
  const Delivery delivery{body, &headers, {{"token", garbage}}};
  const VerifyResult verdict = provider->Verify(delivery, source, clock);
  if (valid && !verdict.ok()) std::abort();  // a correctly signed body must verify
  if (!verdict.ok()) return 0;
  const NormalizeResult result =
      NormalizeSafely(*provider, delivery, NormalizeContext{"default", "2026-01-01T00:00:00Z"});
  if (const auto* failure = std::get_if<NormalizeFailure>(&result)) {
    if (failure->reason.empty() || failure->reason == reason::kNormalizerError) std::abort();
    // What would go to the dead-letter topic must serialize.
    const DeadLetterRecord record =
        MakeDeadLetter(*provider, "default", delivery, *failure, "2026-01-01T00:00:00Z");
    if (ToJson(record).empty()) std::abort();
    if (!ValidMessage(DeadLetterMessage(record, "dlq"))) std::abort();
    return 0;
  }
  for (const CanonicalEvent& e : std::get<std::vector<CanonicalEvent>>(result)) {
    if (e.event_id.size() != 36 || e.Key().empty() || e.Key().find(':') == std::string::npos) {
      std::abort();
    }
    const OutgoingMessage m = EventMessage(e, "events");
    if (m.value.empty() || m.value.front() != '{') std::abort();
    if (!ValidMessage(m)) std::abort();  // valid UTF-8 whatever the input escapes say
  }
  return 0;
}

#pragma once

// The spool's previous record format, for tests of the upgrade path: the
// HMAC-SHA256 of the body alone, then the body (no position bound in).

#include <string>
#include <string_view>

#include "bridge/crypto/hmac.h"

namespace bridge {

inline std::string SealLegacySpoolRecord(std::string_view key, std::string_view body) {
  std::string out = crypto::Hmac(crypto::Digest::kSha256, key, body);
  out.append(body);
  return out;
}

}  // namespace bridge

#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace bridge::crypto {

enum class Digest { kSha256, kSha512 };

/// HMAC of `message` under `key`, as raw bytes (32 or 64 bytes).
std::string Hmac(Digest digest, std::string_view key, std::string_view message);

/// HMAC over the concatenation of several parts, without copying them together.
std::string Hmac(Digest digest, std::string_view key,
                 std::initializer_list<std::string_view> parts);

/// SHA-256 of `data`, raw bytes.
std::string Sha256(std::string_view data);

std::string HexLower(std::string_view bytes);
std::string Base64(std::string_view bytes);

/// Decodes standard base64 (with padding). Returns false on invalid input.
bool Base64Decode(std::string_view text, std::string& out);

/// Decodes hex (either case). Returns false on odd length or a non-hex character.
bool HexDecode(std::string_view hex, std::string& out);

/// Constant-time comparison of two byte strings (CRYPTO_memcmp). Lengths are
/// not secret: different lengths compare unequal immediately.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace bridge::crypto

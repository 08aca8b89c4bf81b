#include "bridge/crypto/hmac.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdio>
#include <stdexcept>
#include <vector>

namespace bridge::crypto {
namespace {

struct MacDeleter {
  void operator()(EVP_MAC* p) const { EVP_MAC_free(p); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* p) const { EVP_MAC_CTX_free(p); }
};
using MacPtr = std::unique_ptr<EVP_MAC, MacDeleter>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter>;

// Fetched once: EVP_MAC_fetch walks the provider tables and is not free.
EVP_MAC* HmacAlgorithm() {
  static const MacPtr mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) throw std::runtime_error("OpenSSL: HMAC is not available");
  return mac.get();
}

const char* DigestName(Digest d) { return d == Digest::kSha512 ? "SHA512" : "SHA256"; }

/// Per thread, the HMAC contexts of the last few keys, already keyed: the
/// next message under the same key re-arms the context (EVP_MAC_init without
/// a key) instead of allocating one, looking up the digest and hashing the
/// key again. A handful of secrets are in use at a time.
class KeyedMacCache {
 public:
  ~KeyedMacCache() {
    for (Slot& s : slots_) OPENSSL_cleanse(s.key.data(), s.key.size());
  }

  EVP_MAC_CTX* Get(Digest digest, std::string_view key) {
    for (Slot& s : slots_) {
      if (s.digest == digest && s.key == key) {
        if (EVP_MAC_init(s.ctx.get(), nullptr, 0, nullptr) != 1) {
          throw std::runtime_error("OpenSSL: EVP_MAC_init failed");
        }
        return s.ctx.get();
      }
    }
    MacCtxPtr ctx(EVP_MAC_CTX_new(HmacAlgorithm()));
    if (!ctx) throw std::runtime_error("OpenSSL: EVP_MAC_CTX_new failed");
    char digest_name[16];
    std::snprintf(digest_name, sizeof digest_name, "%s", DigestName(digest));
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end()};
    // An empty key is legal HMAC; OpenSSL wants a non-null pointer for it.
    static const unsigned char kEmpty = 0;
    const auto* key_ptr =
        key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
    if (EVP_MAC_init(ctx.get(), key_ptr, key.size(), params) != 1) {
      throw std::runtime_error("OpenSSL: EVP_MAC_init failed");
    }
    if (slots_.size() == kSlots) {
      OPENSSL_cleanse(slots_.front().key.data(), slots_.front().key.size());
      slots_.erase(slots_.begin());
    }
    slots_.push_back(Slot{digest, std::string(key), std::move(ctx)});
    return slots_.back().ctx.get();
  }

 private:
  static constexpr size_t kSlots = 8;
  struct Slot {
    Digest digest;
    std::string key;
    MacCtxPtr ctx;
  };
  std::vector<Slot> slots_;
};

}  // namespace

std::string Hmac(Digest digest, std::string_view key,
                 std::initializer_list<std::string_view> parts) {
  thread_local KeyedMacCache cache;
  EVP_MAC_CTX* ctx = cache.Get(digest, key);
  for (std::string_view part : parts) {
    if (!part.empty() && EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(part.data()),
                                        part.size()) != 1) {
      throw std::runtime_error("OpenSSL: EVP_MAC_update failed");
    }
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t out_len = 0;
  if (EVP_MAC_final(ctx, out, &out_len, sizeof out) != 1) {
    throw std::runtime_error("OpenSSL: EVP_MAC_final failed");
  }
  return std::string(reinterpret_cast<const char*>(out), out_len);
}

std::string Hmac(Digest digest, std::string_view key, std::string_view message) {
  return Hmac(digest, key, {message});
}

std::string Sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL: EVP_Digest failed");
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string HexLower(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kHex[b >> 4];
    out[2 * i + 1] = kHex[b & 0xF];
  }
  return out;
}

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool Base64Decode(std::string_view text, std::string& out) {
  if (text.size() % 4 != 0) return false;
  out.assign(text.size() / 4 * 3 + 1, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return false;
  // EVP_DecodeBlock counts padding as zero bytes.
  size_t len = static_cast<size_t>(n);
  if (!text.empty() && text.back() == '=') --len;
  if (text.size() > 1 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return true;
}

bool HexDecode(std::string_view hex, std::string& out) {
  if (hex.size() % 2 != 0) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out.assign(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<char>((hi << 4) | lo);
  }
  return true;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace bridge::crypto

#include <gtest/gtest.h>

#include "bridge/crypto/hmac.h"
#include "support.h"

namespace bridge::crypto {
namespace {

TEST(Crypto, HmacSha256MatchesCalcomVector) {
  // tests/fixtures/SIGNATURE_TEST_VECTORS.md, Cal.com.
  const std::string body = testing::CompactFixture("calcom/BOOKING_CREATED.json");
  ASSERT_EQ(body.size(), 2739u);
  EXPECT_EQ(HexLower(Sha256(body)),
            "d3a70febd3719d887d01ad2c06e539e5227d746926e88cb8424a9d6a35fa2409");
  EXPECT_EQ(HexLower(Hmac(Digest::kSha256, "test-secret-123", body)),
            "3bfd03c914bb635c1847d6bab5b45759dc9780561885ba9048dd533559ca7023");
}

TEST(Crypto, HmacOverPartsEqualsHmacOverConcatenation) {
  EXPECT_EQ(Hmac(Digest::kSha256, "k", {"1741684361", ".", "body"}),
            Hmac(Digest::kSha256, "k", "1741684361.body"));
}

TEST(Crypto, HmacRfc4231Sha512) {
  // RFC 4231 test case 2.
  EXPECT_EQ(HexLower(Hmac(Digest::kSha512, "Jefe", "what do ya want for nothing?")),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d03"
            "4f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
}

TEST(Crypto, HmacWithEmptyKeyWorks) {
  EXPECT_EQ(HexLower(Hmac(Digest::kSha256, "", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(Crypto, ReusedKeyedContextsGiveTheSameMacsInAnyOrder) {
  // Contexts are cached per key and re-armed: interleaving keys, digests and
  // more keys than the cache holds must not change any result.
  const std::string jefe512 =
      "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d03"
      "4f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737";
  const std::string empty256 = "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad";
  std::vector<std::string> first;
  for (int i = 0; i < 20; ++i)
    first.push_back(Hmac(Digest::kSha256, "key-" + std::to_string(i), "m"));
  for (int round = 0; round < 3; ++round) {
    for (int i = 19; i >= 0; --i) {
      EXPECT_EQ(Hmac(Digest::kSha256, "key-" + std::to_string(i), "m"), first[i]);
      EXPECT_EQ(HexLower(Hmac(Digest::kSha512, "Jefe", "what do ya want for nothing?")), jefe512);
      EXPECT_EQ(HexLower(Hmac(Digest::kSha256, "", "")), empty256);
    }
  }
  EXPECT_NE(Hmac(Digest::kSha256, "key-1", "m"), Hmac(Digest::kSha512, "key-1", "m").substr(0, 32));
}

TEST(Crypto, HexDecodeAcceptsEitherCaseAndRejectsJunk) {
  std::string out;
  ASSERT_TRUE(HexDecode("00ffAB", out));
  EXPECT_EQ(out, std::string("\x00\xff\xab", 3));
  EXPECT_FALSE(HexDecode("abc", out));
  EXPECT_FALSE(HexDecode("zz", out));
}

TEST(Crypto, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(Crypto, Base64) {
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64(std::string("\xff\x00", 2)), "/wA=");
}

}  // namespace
}  // namespace bridge::crypto

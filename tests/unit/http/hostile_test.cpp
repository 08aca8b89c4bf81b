// Hostile input against a live ingress (ephemeral port, fake publisher):
// a corpus of bad requests, each with the answer it must get, then slow and
// idle connections; afterwards a valid webhook is still answered correctly.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "bridge/crypto/hmac.h"
#include "bridge/util/json.h"
#include "bridge/webhook/webhook_server.h"
#include "ingress_fixture.h"
#include "raw_client.h"
#include "support.h"

namespace bridge {
namespace {

using namespace std::string_literals;
using testing::CompactFixture;
using testing::Connect;
using testing::HmacSha256Hex;
using testing::RawStatus;

std::string Post(const std::string& path, const std::string& body,
                 const std::vector<std::string>& headers, bool with_length = true) {
  return testing::RawPost(path, body, headers, with_length);
}

std::string CalSig(const std::string& body, const std::string& secret = "s3cret") {
  return "X-Cal-Signature-256: " + HmacSha256Hex(secret, body);
}

std::string CalendlySig(const std::string& body, int64_t t, const std::string& key = "k") {
  const std::string ts = std::to_string(t);
  return "Calendly-Webhook-Signature: t=" + ts + ",v1=" + HmacSha256Hex(key, ts + "." + body);
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class HostileTest : public testing::IngressFixture {
 protected:
  void SetUp() override {
    IngressFixture::SetUp();
    config_.http.io_threads = 2;
    config_.http.max_body_bytes = 1 << 20;
    config_.http.head_timeout = std::chrono::milliseconds(1000);
    config_.http.body_timeout = std::chrono::milliseconds(1000);
    config_.pipeline.ack_timeout = std::chrono::milliseconds(500);
    config_.sources = {
        SourceConfig{"calcom", "default", {"s3cret"}}, SourceConfig{"calendly", "default", {"k"}},
        SourceConfig{"savvycal", "default", {"sv"}}, SourceConfig{"orufy", "default", {"tok"}}};
    StartServer();
  }

  int ValidWebhook(int wait_ms = 4000) {
    static int n = 0;
    const std::string body =
        R"({"triggerEvent":"BOOKING_CREATED","createdAt":"2026-01-01T00:00:00Z","payload":{"uid":"ok-)" +
        std::to_string(++n) + "\"}}";
    return RawStatus(
        port_, Post("/webhooks/calcom", body, {"Content-Type: application/json", CalSig(body)}), 0,
        std::chrono::milliseconds(0), wait_ms);
  }

  double Malformed(const std::string& reason) const {
    return metrics_.Value("schedbridge_http_malformed_total", {{"reason", reason}});
  }
};

struct Case {
  std::string name;
  std::function<std::string()> request;
  int expected;
  size_t chunk = 0;
  int gap_ms = 0;
};

TEST_F(HostileTest, EveryBadRequestGetsItsAnswer) {
  const std::string booking = CompactFixture("calcom/BOOKING_CREATED.json");
  const std::string invitee = CompactFixture("calendly/invitee.created.json");
  const std::string savvy = CompactFixture("savvycal/event.created.json");
  const std::string orufy = CompactFixture("orufy/BOOK.json");
  const std::string json = "Content-Type: application/json";
  auto cal = [&](const std::string& body, std::vector<std::string> headers) {
    headers.insert(headers.begin(), json);
    return Post("/webhooks/calcom", body, headers);
  };
  auto signed_cal = [&](const std::string& body) { return cal(body, {CalSig(body)}); };
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string big_string =
      R"({"triggerEvent":"BOOKING_CREATED","payload":{"uid":"big","title":")" +
      std::string(1000000, 'x') + "\"}}";

  const std::vector<Case> cases = {
      // Cal.com signatures
      {"calcom: no signature header", [&] { return cal(booking, {}); }, 401},
      {"calcom: empty signature", [&] { return cal(booking, {"X-Cal-Signature-256: "}); }, 401},
      {"calcom: garbled signature", [&] { return cal(booking, {"X-Cal-Signature-256: %%%%!!"}); },
       401},
      {"calcom: 63 hex digits",
       [&] { return cal(booking, {"X-Cal-Signature-256: " + std::string(63, 'a')}); }, 401},
      {"calcom: 65 hex digits",
       [&] { return cal(booking, {"X-Cal-Signature-256: " + std::string(65, 'a')}); }, 401},
      {"calcom: signature duplicated",
       [&] {
         return cal(booking, {CalSig(booking), CalSig(booking)});
       },
       401},
      {"calcom: signature of another body", [&] { return cal(booking, {CalSig(invitee)}); }, 401},
      {"calcom: wrong secret", [&] { return cal(booking, {CalSig(booking, "guess")}); }, 401},
      {"calcom: no-secret-provided",
       [&] { return cal(booking, {"X-Cal-Signature-256: no-secret-provided"}); }, 401},
      {"calcom: sha256= prefix, wrong mac",
       [&] { return cal(booking, {"X-Cal-Signature-256: sha256=" + std::string(64, '0')}); }, 401},
      {"calcom: signature with a NUL (malformed header value)",
       [&] { return cal(booking, {"X-Cal-Signature-256: ab\0cd"s}); }, 400},
      // Calendly
      {"calendly: no header", [&] { return Post("/webhooks/calendly", invitee, {json}); }, 401},
      {"calendly: t only",
       [&] {
         return Post("/webhooks/calendly", invitee,
                     {json, "Calendly-Webhook-Signature: t=" + std::to_string(Now())});
       },
       401},
      {"calendly: v1 only",
       [&] {
         return Post("/webhooks/calendly", invitee,
                     {json, "Calendly-Webhook-Signature: v1=" + std::string(64, 'a')});
       },
       401},
      {"calendly: stale timestamp, valid mac",
       [&] {
         return Post("/webhooks/calendly", invitee, {json, CalendlySig(invitee, Now() - 181)});
       },
       401},
      {"calendly: future timestamp, valid mac",
       [&] {
         return Post("/webhooks/calendly", invitee, {json, CalendlySig(invitee, Now() + 181)});
       },
       401},
      {"calendly: t not a number",
       [&] {
         return Post("/webhooks/calendly", invitee,
                     {json, "Calendly-Webhook-Signature: t=soon,v1=" + std::string(64, 'a')});
       },
       401},
      {"calendly: t overflows",
       [&] {
         return Post("/webhooks/calendly", invitee,
                     {json, "Calendly-Webhook-Signature: t=99999999999999999999,v1=" +
                                std::string(64, 'a')});
       },
       401},
      {"calendly: mac of another body",
       [&] {
         return Post("/webhooks/calendly", invitee, {json, CalendlySig(booking, Now())});
       },
       401},
      {"calendly: header sent twice",
       [&] {
         return Post("/webhooks/calendly", invitee,
                     {json, CalendlySig(invitee, Now()), CalendlySig(invitee, Now())});
       },
       401},
      // SavvyCal, Orufy
      {"savvycal: no header", [&] { return Post("/webhooks/savvycal", savvy, {json}); }, 401},
      {"savvycal: md5= scheme",
       [&] {
         return Post("/webhooks/savvycal", savvy, {json, "x-savvycal-signature: md5=abc"});
       },
       401},
      {"savvycal: wrong mac",
       [&] {
         return Post("/webhooks/savvycal", savvy,
                     {json, "x-savvycal-signature: sha256=" + std::string(64, 'F')});
       },
       401},
      {"orufy: no Authorization", [&] { return Post("/webhooks/orufy", orufy, {json}); }, 401},
      {"orufy: wrong bearer token",
       [&] {
         return Post("/webhooks/orufy", orufy, {json, "Authorization: Bearer tok2"});
       },
       401},
      {"orufy: basic auth",
       [&] {
         return Post("/webhooks/orufy", orufy, {json, "Authorization: Basic dG9rOnRvaw=="});
       },
       401},
      // Routing and methods
      {"unknown provider", [&] { return Post("/webhooks/zoom", "{}", {json}); }, 404},
      {"unknown source", [&] { return Post("/webhooks/calcom/nobody", "{}", {json}); }, 404},
      {"path too deep", [&] { return Post("/webhooks/calcom/a/b", "{}", {json}); }, 404},
      {"no such endpoint", [&] { return Post("/admin", "{}", {json}); }, 404},
      {"GET on a webhook",
       [&] {
         return std::string(
             "GET /webhooks/calcom HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
       },
       405},
      {"DELETE on a webhook",
       [&] {
         return std::string(
             "DELETE /webhooks/calcom HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
       },
       405},
      {"URI over 8 KiB",
       [&] {
         return "GET /webhooks/" + std::string(9000, 'a') +
                " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
       },
       414},
      // Framing
      {"empty body", [&] { return cal("", {CalSig("")}); }, 400},
      {"request line garbage", [&] { return std::string("HELLO\r\n\r\n"); }, 400},
      {"declared 2 MiB body",
       [&] {
         return Post("/webhooks/calcom", "", {json, "Content-Length: 2097152"}, false);
       },
       413},
      {"100 MB body, declared, sent slowly",
       [&] {
         return Post("/webhooks/calcom", "", {json, "Content-Length: 104857600"}, false) +
                std::string(65536, 'x');
       },
       413, 1024, 20},
      {"lying Content-Length (says more than sent): body deadline",
       [&] {
         return Post("/webhooks/calcom", "{}", {json, CalSig("{}"), "Content-Length: 100"}, false) +
                "{}";
       },
       408},
      {"chunked over the limit, sent slowly",
       [&] {
         std::string r = "POST /webhooks/calcom HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" +
                         json + "\r\nTransfer-Encoding: chunked\r\n\r\n";
         for (int i = 0; i < 40; ++i) r += "10000\r\n" + std::string(65536, 'x') + "\r\n";
         return r + "0\r\n\r\n";
       },
       413, 65536, 5},
      {"chunked with a bad chunk size",
       [&] {
         return "POST /webhooks/calcom HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + json +
                "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n";
       },
       400},
      {"text/xml body",
       [&] {
         return Post("/webhooks/calcom", "<x/>", {"Content-Type: text/xml", CalSig("<x/>")});
       },
       415},
      {"multipart body",
       [&] {
         return Post("/webhooks/calcom", "--b\r\n\r\nx\r\n--b--",
                     {"Content-Type: multipart/form-data; boundary=b"});
       },
       415},
      {"header line of 9,000 bytes, unsigned",
       [&] { return cal(booking, {"X-Junk: " + std::string(9000, 'j')}); }, 401},
      {"head over 64 KiB", [&] { return cal(booking, {"X-Junk: " + std::string(70000, 'j')}); },
       431},
      {"99 junk headers, unsigned",
       [&] {
         std::vector<std::string> h;
         for (int i = 0; i < 96; ++i) h.push_back("X-Junk-" + std::to_string(i) + ": v");
         return cal(booking, h);
       },
       401},
      {"200 junk headers",
       [&] {
         std::vector<std::string> h;
         for (int i = 0; i < 200; ++i) h.push_back("X-Junk-" + std::to_string(i) + ": v");
         return cal(booking, h);
       },
       431},
      // Bodies that authenticate but cannot be normalized: kept, never a crash
      {"100k-deep nesting, signed", [&] { return signed_cal(deep); }, 202},
      {"invalid UTF-8, signed", [&] { return signed_cal("{\"triggerEvent\":\"\xff\xfe\"}"); }, 202},
      {"NUL bytes in the body, signed", [&] { return signed_cal("{\"a\":\"\0\0\"}"s); }, 202},
      {"number 1e999, signed",
       [&] { return signed_cal(R"({"triggerEvent":"BOOKING_CREATED","payload":{"uid":1e999}})"); },
       202},
      {"huge integer uid, signed",
       [&] {
         return signed_cal(
             R"({"triggerEvent":"BOOKING_CREATED","payload":{"uid":123456789012345678901234567890}})");
       },
       202},
      {"duplicate keys, signed",
       [&] {
         return signed_cal(
             R"({"triggerEvent":"BOOKING_CREATED","triggerEvent":"X","payload":{"uid":"dup"}})");
       },
       202},
      {"payload is a string, signed",
       [&] { return signed_cal(R"({"triggerEvent":"BOOKING_CREATED","payload":"x"})"); }, 202},
      {"uid is an object, signed",
       [&] {
         return signed_cal(R"({"triggerEvent":"BOOKING_CREATED","payload":{"uid":{"a":1}}})");
       },
       202},
      {"triggerEvent is a number, signed", [&] { return signed_cal(R"({"triggerEvent":7})"); },
       202},
      {"body is null, signed", [&] { return signed_cal("null"); }, 202},
      {"body is an array, signed", [&] { return signed_cal("[1,2,3]"); }, 202},
      {"one-megabyte title, signed", [&] { return signed_cal(big_string); }, 202},
  };
  ASSERT_GE(cases.size(), 50u);
  for (const Case& c : cases) {
    const int status = RawStatus(port_, c.request(), c.chunk, std::chrono::milliseconds(c.gap_ms));
    EXPECT_EQ(status, c.expected) << c.name;
    std::printf("  %-45s -> %d\n", c.name.c_str(), status);
  }
  // Nothing unauthenticated reached the publisher; what authenticated did.
  for (const auto& m : publisher_.Published()) {
    EXPECT_EQ(m.value.find("s3cret"), std::string::npos);
  }
  EXPECT_EQ(ValidWebhook(), 202);
  // The transport's 400s leave a count (the NUL and the garbage request line;
  // the bad chunk size); a route's 400 (the empty body) is a webhook's.
  EXPECT_EQ(Malformed("head"), 2);
  EXPECT_EQ(Malformed("body"), 1);
  EXPECT_EQ(Malformed("framing"), 0);
}

/// Sends `bytes` on a new connection; returns everything the server sent
/// until it closed (or 3 s of silence) and whether it closed.
std::pair<std::string, bool> Exchange(int port, const std::string& bytes) {
  const int fd = Connect(port);
  send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  const std::string answers = testing::ReadAnswers(fd, 2, 3000);
  const bool closed = testing::ClosedByPeer(fd, 3000);
  close(fd);
  return {answers, closed};
}

TEST_F(HostileTest, TransferEncodingNotEndingInChunkedIsRefusedAndCloses) {
  // TE.0 smuggling: a request whose body length the service would guess
  // (as "none") while a proxy in front reads it differently.
  const std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: SMUGGLED\r\n\r\n";
  const std::vector<std::string> codings = {
      "Transfer-Encoding: chunked, identity",
      "Transfer-Encoding: gzip",
      "Transfer-Encoding: identity",
      "Transfer-Encoding: xchunked",
      "Transfer-Encoding: x\r\n chunked",
      "Transfer-Encoding: chunked\r\n\t, identity",
      "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked",
      "Transfer-Encoding: chunked, chunked",
      "Transfer-Encoding: ,",
      "Transfer-Encoding:",
  };
  for (const std::string path : {"/webhooks/calcom", "/healthz"}) {
    for (const std::string& te : codings) {
      const std::string head = "POST " + path +
                               " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                               "X-Cal-Signature-256: bogus\r\n" +
                               te + "\r\n\r\n";
      const auto [answers, closed] = Exchange(port_, head + "0\r\n\r\n" + smuggled);
      EXPECT_EQ(testing::StatusOf(answers), 400) << path << " " << te << ": " << answers;
      EXPECT_NE(answers.find("Connection: close"), std::string::npos) << te;
      EXPECT_EQ(answers.find("SMUGGLED"), std::string::npos) << path << " " << te;
      EXPECT_EQ(answers.find("HTTP/1.1", 1), std::string::npos) << "a second answer: " << te;
      EXPECT_TRUE(closed) << te;
    }
  }
  // HTTP/1.0 has no transfer codings (RFC 9112 6.1): refused, even chunked.
  {
    const auto [answers, closed] =
        Exchange(port_,
                 "POST /webhooks/calcom HTTP/1.0\r\nHost: t\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" +
                     smuggled);
    EXPECT_EQ(testing::StatusOf(answers), 400) << answers;
    EXPECT_EQ(answers.find("SMUGGLED"), std::string::npos);
    EXPECT_TRUE(closed);
  }
  // Any transfer coding with a Content-Length: refused even when signed.
  const std::string body = R"({"triggerEvent":"BOOKING_CREATED","payload":{"uid":"te-cl"}})";
  const auto [answers, closed] = Exchange(
      port_, Post("/webhooks/calcom", body,
                  {"Content-Type: application/json", CalSig(body), "Transfer-Encoding: gzip"}));
  EXPECT_EQ(testing::StatusOf(answers), 400) << answers;
  EXPECT_TRUE(closed);
  EXPECT_TRUE(publisher_.Published().empty());
  // chunked alone, in any case, is a body.
  const std::string chunked =
      "POST /webhooks/calcom HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
      "Content-Type: application/json\r\n" +
      CalSig(body) + "\r\nTransfer-Encoding: CHUNKED\r\n\r\n" +
      [&] {
        char size[16];
        std::snprintf(size, sizeof size, "%zx", body.size());
        return std::string(size);
      }() +
      "\r\n" + body + "\r\n0\r\n\r\n";
  EXPECT_EQ(RawStatus(port_, chunked), 202);
  EXPECT_EQ(ValidWebhook(), 202);
  // Every refusal above is counted, none of them as a webhook.
  EXPECT_EQ(Malformed("framing") + Malformed("head"), 2 * codings.size() + 2);
  EXPECT_EQ(Malformed("body"), 0);
}

TEST_F(HostileTest, AFoldedHeaderLineIsRefused) {
  const std::string body = R"({"triggerEvent":"BOOKING_CREATED","payload":{"uid":"fold"}})";
  const auto [answers, closed] = Exchange(
      port_, Post("/webhooks/calcom", body,
                  {"Content-Type: application/json", CalSig(body), "X-Note: a\r\n folded"}));
  EXPECT_EQ(testing::StatusOf(answers), 400) << answers;
  EXPECT_NE(answers.find("obs-fold"), std::string::npos) << answers;
  EXPECT_TRUE(closed);
  EXPECT_TRUE(publisher_.Published().empty());
  EXPECT_EQ(Malformed("framing"), 1);
}

TEST_F(HostileTest, ErrorBodiesAreValidUtf8WithoutControlBytes) {
  const std::vector<std::pair<std::string, std::string>> paths = {
      {"/webhooks/calcom/\xff\xfe"
       "abc",
       "\xef\xbf\xbd\xef\xbf\xbd"
       "abc"},
      {"/webhooks/\xc3\x28zoom", "zoom"},
      {"/webhooks/calcom/\xed\xa0\x80surrogate", "surrogate"},
      {"/webhooks/calcom/\xe0\x80\xafoverlong", "overlong"},
      {"/webhooks/calcom/caf\xc3\xa9", "caf\xc3\xa9"},  // valid UTF-8 is echoed as sent
      {"/webhooks/calcom/" + std::string(63, 'a') + "\xc3\xa9tail", "a\xc3\xa9..."},
  };
  for (const auto& [path, echoed] : paths) {
    const auto [answers, closed] =
        Exchange(port_, Post(path, "{}", {"Content-Type: application/json"}));
    EXPECT_EQ(testing::StatusOf(answers), 404) << answers;
    const std::string body = answers.substr(answers.find("\r\n\r\n") + 4);
    EXPECT_TRUE(json::IsValidUtf8(body)) << body;
    EXPECT_TRUE(std::none_of(body.begin(), body.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    })) << body;
    EXPECT_NE(body.find(echoed), std::string::npos) << body;
    rapidjson::Document doc;
    EXPECT_TRUE(json::Parse(body, doc).ok) << body;
  }
}

TEST_F(HostileTest, SlowClientsDoNotStopOthers) {
  // Slowloris: 8 connections dribbling a header byte every 300 ms.
  std::vector<std::thread> slow;
  std::atomic<bool> stop{false};
  for (int i = 0; i < 8; ++i) {
    slow.emplace_back([&] {
      const int fd = Connect(port_);
      const std::string head = "POST /webhooks/calcom HTTP/1.1\r\nHost: t\r\nX-Slow: ";
      send(fd, head.data(), head.size(), MSG_NOSIGNAL);
      while (!stop && send(fd, "a", 1, MSG_NOSIGNAL) == 1) {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
      }
      close(fd);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ValidWebhook(10000), 202);
  stop = true;
  for (auto& t : slow) t.join();
}

TEST_F(HostileTest, ManyIdleConnectionsDoNotStopOthers) {
  // 100 idle connections (more than the 16 threads): each is dropped after
  // the read timeout, so the valid request is served.
  std::vector<int> idle;
  for (int i = 0; i < 100; ++i) idle.push_back(Connect(port_));
  // Served once the idle ones time out (1 s each over 16 threads), bounded.
  std::thread valid([&] { EXPECT_EQ(ValidWebhook(30000), 202); });
  valid.join();
  for (int fd : idle) close(fd);
  EXPECT_EQ(ValidWebhook(10000), 202);
}

}  // namespace
}  // namespace bridge

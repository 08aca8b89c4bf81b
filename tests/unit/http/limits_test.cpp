// Every limit of the webhook port against a live server (ephemeral port,
// fake publisher), each pushed by a hostile client: the answer it gets, the
// counter it moves, and a valid delivery still served. Also what the
// event-driven design promises: a request parked while Kafka acknowledges
// holds no thread, pipelining, 100-continue, chunked bodies, shutdown.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "bridge/webhook/webhook_server.h"
#include "ingress_fixture.h"
#include "raw_client.h"
#include "support.h"

namespace bridge {
namespace {

using namespace std::chrono_literals;
using testing::ClosedByPeer;
using testing::Connect;
using testing::FakePublisher;
using testing::HmacSha256Hex;
using testing::RawPost;
using testing::ReadAnswers;
using testing::StatusOf;

std::string Booking(const std::string& uid) {
  return R"({"triggerEvent":"BOOKING_CREATED","createdAt":"2026-01-01T00:00:00Z","payload":{"uid":")" +
         uid + "\"}}";
}

std::vector<std::string> Signed(const std::string& body) {
  return {"Content-Type: application/json",
          "X-Cal-Signature-256: " + HmacSha256Hex("s3cret", body)};
}

void SendAll(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

class LimitsTest : public testing::IngressFixture {
 protected:
  /// Starts a server with `tune` applied to the default settings.
  void Start(const std::function<void(HttpSettings&)>& tune = {},
             std::chrono::milliseconds ack_timeout = 2s) {
    config_.http.io_threads = 1;  // one thread: anything blocking it would show
    config_.pipeline.ack_timeout = ack_timeout;
    if (tune) tune(config_.http);
    config_.sources = {SourceConfig{"calcom", "default", {"s3cret"}},
                       SourceConfig{"calcom", "team-b", {"b-secret"}}};
    StartServer();
  }

  int Valid(const std::string& source = "127.0.0.1") {
    static std::atomic<int> n{0};
    const std::string body = Booking("valid-" + std::to_string(++n));
    const int fd = Connect(port_, source);
    if (fd < 0) return -1;
    SendAll(fd, RawPost("/webhooks/calcom", body, Signed(body)));
    const int status = StatusOf(ReadAnswers(fd, 1, 10000));
    close(fd);
    return status;
  }

  double Limited(const std::string& what) {
    return metrics_.Value("schedbridge_http_limited_total", {{"limit", what}});
  }
};

TEST_F(LimitsTest, SlowHeadersAreCutAtTheHeadDeadline) {
  Start([](HttpSettings& s) { s.head_timeout = 300ms; });
  const int fd = Connect(port_);
  SendAll(fd, "POST /webhooks/calcom HTTP/1.1\r\nHost: t\r\n");
  std::string answer;
  // One header line every 100 ms: always sending, never finishing.
  for (int i = 0; i < 30 && answer.empty(); ++i) {
    SendAll(fd, "X-Slow-" + std::to_string(i) + ": a\r\n");
    if (testing::Readable(fd, 100)) answer = ReadAnswers(fd, 1, 1000);
  }
  EXPECT_EQ(StatusOf(answer), 408) << answer;
  EXPECT_TRUE(ClosedByPeer(fd, 2000));
  close(fd);
  EXPECT_EQ(Limited("head_timeout"), 1);
  // A connection that never sends a byte is closed at the same deadline.
  const int silent = Connect(port_);
  EXPECT_TRUE(ClosedByPeer(silent, 3000));
  close(silent);
  EXPECT_EQ(Limited("head_timeout"), 2);
  EXPECT_EQ(Valid(), 202);
}

TEST_F(LimitsTest, SlowBodyIs408AtTheBodyDeadline) {
  Start([](HttpSettings& s) { s.body_timeout = 300ms; });
  const int fd = Connect(port_);
  SendAll(fd,
          "POST /webhooks/calcom HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
          "Content-Length: 1000\r\n\r\n{\"a\":");
  const std::string answer = ReadAnswers(fd, 1, 3000);
  EXPECT_EQ(StatusOf(answer), 408) << answer;
  EXPECT_NE(answer.find("\"status\":\"timeout\""), std::string::npos);
  EXPECT_NE(answer.find("X-Request-Id: "), std::string::npos);
  close(fd);
  EXPECT_EQ(Limited("body_timeout"), 1);
  // Its budget comes back when the server closes the connection.
  for (int i = 0; i < 400 && server_->body_bytes_in_flight() != 0; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(server_->body_bytes_in_flight(), 0u);
  EXPECT_EQ(Valid(), 202);
}

TEST_F(LimitsTest, IdleKeepAliveConnectionsAreClosed) {
  Start([](HttpSettings& s) { s.idle_timeout = 300ms; });
  const int fd = Connect(port_);
  const std::string body = Booking("idle");
  SendAll(fd, RawPost("/webhooks/calcom", body, Signed(body), true, /*close=*/false));
  EXPECT_EQ(StatusOf(ReadAnswers(fd, 1, 3000)), 202);
  EXPECT_TRUE(ClosedByPeer(fd, 3000));
  close(fd);
  EXPECT_EQ(Limited("idle_timeout"), 1);
}

TEST_F(LimitsTest, TenThousandHeadersAre431WithoutReadingThemAll) {
  Start();
  const int fd = Connect(port_);
  std::string head = "POST /webhooks/calcom HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 10000; ++i) head += "X-H" + std::to_string(i) + ": v\r\n";
  std::thread sender([&] { SendAll(fd, head + "\r\n"); });
  const std::string answer = ReadAnswers(fd, 1, 5000);
  shutdown(fd, SHUT_RDWR);
  sender.join();
  close(fd);
  EXPECT_EQ(StatusOf(answer), 431) << answer;
  EXPECT_NE(answer.find("more than 100 header fields"), std::string::npos);
  EXPECT_EQ(Limited("headers"), 1);
  EXPECT_EQ(Valid(), 202);
}

TEST_F(LimitsTest, AnEndlessHeaderLineIsCutAtTheHeadLimit) {
  Start();
  // 8 MiB with no newline: the server must stop at 64 KiB of head.
  const auto line =
      testing::SendEndlessHeaderLine(port_, "POST /webhooks/calcom HTTP/1.1", 8u << 20);
  EXPECT_EQ(StatusOf(line.answer), 431) << "after " << line.sent << " bytes: " << line.answer;
  EXPECT_LT(line.sent, 8u << 20) << "the server kept reading";
  EXPECT_EQ(Limited("head_bytes"), 1);
  EXPECT_EQ(Valid(), 202);
}

/// The head of a chunked Cal.com delivery with a bogus signature.
std::string ChunkedHead(const std::string& path = "/webhooks/calcom") {
  return "POST " + path +
         " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
         "X-Cal-Signature-256: bogus\r\nTransfer-Encoding: chunked\r\n\r\n";
}

TEST_F(LimitsTest, AnEndlessChunkExtensionIsCutAtTheChunkLineLimit) {
  Start();
  // The parser keeps a chunk-size line whole until its CRLF: 8 MiB of
  // extension must not be kept, whether it arrives in pieces or whole.
  const auto line = testing::SendEndless(port_, ChunkedHead() + "1;", 8u << 20, 'e');
  EXPECT_EQ(StatusOf(line.answer), 400) << "after " << line.sent << " bytes: " << line.answer;
  EXPECT_NE(line.answer.find("chunk-size line"), std::string::npos) << line.answer;
  EXPECT_LT(line.sent, 8u << 20) << "the server kept reading";
  EXPECT_EQ(Limited("chunk_line"), 1);
  EXPECT_EQ(server_->body_bytes_in_flight(), 0u);

  const std::string whole = ChunkedHead() + "1;x=" + std::string(8000, 'e') + "\r\na\r\n0\r\n\r\n";
  EXPECT_EQ(testing::RawStatus(port_, whole), 400);
  EXPECT_EQ(Limited("chunk_line"), 2);
  EXPECT_EQ(Valid(), 202);
}

TEST_F(LimitsTest, AnEndlessTrailerIsCutAtTheHeadLimit) {
  Start([](HttpSettings& s) { s.max_head_bytes = 8192; });
  const auto trailer =
      testing::SendEndless(port_, ChunkedHead() + "2\r\n{}\r\n0\r\nX-T: ", 8u << 20);
  EXPECT_EQ(StatusOf(trailer.answer), 431) << "after " << trailer.sent << " bytes";
  EXPECT_NE(trailer.answer.find("trailer section"), std::string::npos) << trailer.answer;
  EXPECT_LT(trailer.sent, 8u << 20) << "the server kept reading";
  EXPECT_EQ(Limited("trailer_bytes"), 1);

  // Whole in one read: counted as the fields arrive.
  std::string many = ChunkedHead() + "2\r\n{}\r\n0\r\n";
  for (int i = 0; i < 40; ++i)
    many += "X-T" + std::to_string(i) + ": " + std::string(400, 't') + "\r\n";
  EXPECT_EQ(testing::RawStatus(port_, many + "\r\n"), 431);
  EXPECT_EQ(Limited("trailer_bytes"), 2);
  EXPECT_EQ(Valid(), 202);
}

TEST_F(LimitsTest, TrailersNeverStandInForHeaders) {
  Start();
  // A valid signature sent as a trailer is not a signature.
  const std::string body = Booking("trailer-signed");
  std::string r =
      "POST /webhooks/calcom HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  r += std::string(size) + "\r\n" + body +
       "\r\n0\r\nX-Cal-Signature-256: " + HmacSha256Hex("s3cret", body) + "\r\n\r\n";
  EXPECT_EQ(testing::RawStatus(port_, r), 401);
  EXPECT_TRUE(publisher_.Published().empty());
}

TEST_F(LimitsTest, ATargetLongerThanTheHeadIs414) {
  Start([](HttpSettings& s) { s.max_head_bytes = 4096; });
  // Longer than the whole head may be, and longer than both, sent endlessly.
  for (size_t length : {size_t{9000}, size_t{100000}}) {
    const std::string r =
        "GET /webhooks/" + std::string(length, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n";
    EXPECT_EQ(testing::RawStatus(port_, r), 414) << length;
  }
  const auto endless = testing::SendEndless(port_, "POST /webhooks/", 8u << 20, 'a');
  EXPECT_EQ(StatusOf(endless.answer), 414) << endless.answer;
  EXPECT_EQ(Limited("target_bytes"), 3);
  EXPECT_EQ(Limited("head_bytes"), 0);
  // A head over the limit with a short target is still 431.
  EXPECT_EQ(testing::RawStatus(
                port_, RawPost("/webhooks/calcom", "{}", {"X-Junk: " + std::string(5000, 'j')})),
            431);
  EXPECT_EQ(Limited("head_bytes"), 1);
  EXPECT_EQ(Valid(), 202);
}

TEST_F(LimitsTest, AHugeContentLengthIs413BeforeAnyBodyByte) {
  Start();
  const int fd = Connect(port_);
  SendAll(fd,
          "POST /webhooks/calcom HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
          "Content-Length: 1000000000000\r\n\r\n");
  const std::string answer = ReadAnswers(fd, 1, 3000);
  close(fd);
  EXPECT_EQ(StatusOf(answer), 413) << answer;
  EXPECT_NE(answer.find("payload_too_large"), std::string::npos);
  EXPECT_NE(answer.find("Connection: close"), std::string::npos);
  EXPECT_EQ(Limited("body_bytes"), 1);
  EXPECT_EQ(server_->body_bytes_in_flight(), 0u);  // never taken: refused from the head
}

TEST_F(LimitsTest, AUsedUpBodyBudgetIs503WithRetryAfterBeforeReading) {
  Start([](HttpSettings& s) {
    s.body_budget_bytes = 64 << 10;
    s.max_body_bytes = 60000;
  });
  // One slow body has sent 59,000 of its 60,000 bytes: it holds at least
  // that much of the 65,536 budget bytes.
  const int holder = Connect(port_);
  SendAll(holder,
          "POST /webhooks/calcom HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
          "Content-Length: 60000\r\n\r\n{" +
              std::string(58999, ' '));
  for (int i = 0; i < 400 && server_->body_bytes_in_flight() < 59000; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_GE(server_->body_bytes_in_flight(), 59000u);
  ASSERT_LE(server_->body_bytes_in_flight(), 60000u);
  // The next body of 10,000 bytes does not fit: refused from its head alone.
  const std::string body = Booking("budget") + std::string(10000, ' ');
  const int fd = Connect(port_);
  SendAll(fd, RawPost("/webhooks/calcom", body, Signed(body)));
  const std::string answer = ReadAnswers(fd, 1, 3000);
  close(fd);
  EXPECT_EQ(StatusOf(answer), 503) << answer;
  EXPECT_NE(answer.find("Retry-After: 5"), std::string::npos);
  EXPECT_NE(answer.find("too many request bodies"), std::string::npos);
  EXPECT_EQ(Limited("body_budget"), 1);
  // Small enough bodies still fit; and once the holder goes, all fit again.
  EXPECT_EQ(Valid(), 202);
  close(holder);
  for (int i = 0; i < 200 && server_->body_bytes_in_flight() != 0; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(server_->body_bytes_in_flight(), 0u);
  const int again = Connect(port_);
  SendAll(again, RawPost("/webhooks/calcom", body, Signed(body)));
  EXPECT_EQ(StatusOf(ReadAnswers(again, 1, 3000)), 202);
  close(again);
}

// Heads that announce a large body and then send nothing hold no budget: a
// few such connections once held all of it, and every delivery was 503 until
// their body deadline.
TEST_F(LimitsTest, AnnouncedBodiesThatNeverArriveHoldNoBudget) {
  Start([](HttpSettings& s) {
    s.body_budget_bytes = 64 << 10;
    s.max_body_bytes = 60000;
  });
  std::vector<int> holders;
  for (int i = 0; i < 16; ++i) {
    holders.push_back(Connect(port_));
    SendAll(holders.back(),
            "POST /webhooks/calcom HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            "Content-Length: 60000\r\n\r\n{");
  }
  for (int i = 0; i < 400 && server_->body_bytes_in_flight() < 16; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(server_->body_bytes_in_flight(), 16u);  // one byte each
  EXPECT_EQ(Valid(), 202);
  EXPECT_EQ(Limited("body_budget"), 0);
  for (const int fd : holders) close(fd);
  for (int i = 0; i < 400 && server_->body_bytes_in_flight() != 0; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(server_->body_bytes_in_flight(), 0u);
}

TEST_F(LimitsTest, ConnectionCapsInAllAndPerAddress) {
  Start([](HttpSettings& s) {
    s.max_connections = 4;
    s.max_connections_per_address = 2;
  });
  std::vector<int> held;
  for (const char* source : {"127.0.0.1", "127.0.0.1"}) held.push_back(Connect(port_, source));
  auto wait_open = [&](size_t n) {
    for (int i = 0; i < 400 && server_->open_connections() != n; ++i)
      std::this_thread::sleep_for(5ms);
    return server_->open_connections();
  };
  ASSERT_EQ(wait_open(2), 2u);
  // A third from the same address is closed at once.
  const int third = Connect(port_, "127.0.0.1");
  EXPECT_TRUE(ClosedByPeer(third, 2000));
  close(third);
  EXPECT_EQ(Limited("connections_per_address"), 1);
  // Others still get in, up to the total.
  for (const char* source : {"127.0.0.2", "127.0.0.3"}) held.push_back(Connect(port_, source));
  ASSERT_EQ(wait_open(4), 4u);
  const int fifth = Connect(port_, "127.0.0.4");
  EXPECT_TRUE(ClosedByPeer(fifth, 2000));
  close(fifth);
  EXPECT_EQ(Limited("connections"), 1);
  // Freed slots are reusable.
  close(held.back());
  held.pop_back();
  ASSERT_EQ(wait_open(3), 3u);
  EXPECT_EQ(Valid("127.0.0.5"), 202);
  for (int fd : held) close(fd);
}

TEST_F(LimitsTest, UnknownProvidersAndSourcesCreateNoSeries) {
  Start();
  for (int i = 0; i < 50; ++i) {
    const std::string junk = "zz" + std::to_string(i * 7919);
    EXPECT_EQ(testing::RawStatus(port_, RawPost("/webhooks/" + junk, "{}", {})), 404);
    EXPECT_EQ(testing::RawStatus(port_, RawPost("/webhooks/calcom/" + junk, "{}", {})), 404);
    EXPECT_EQ(testing::RawStatus(port_, RawPost("/webhooks/" + junk + "/" + junk, "{}", {})), 404);
  }
  const std::string text = metrics_.Render();
  EXPECT_EQ(text.find("zz"), std::string::npos);
  EXPECT_EQ(metrics_.Value("schedbridge_webhook_requests_total",
                           {{"provider", "unknown"}, {"source", "unknown"}, {"code", "404"}}),
            100);
  EXPECT_EQ(metrics_.Value("schedbridge_webhook_requests_total",
                           {{"provider", "calcom"}, {"source", "unknown"}, {"code", "404"}}),
            50);
  // A configured named source keeps its name.
  const std::string body = Booking("named");
  EXPECT_EQ(testing::RawStatus(
                port_, RawPost("/webhooks/calcom/team-b", body,
                               {"Content-Type: application/json",
                                "X-Cal-Signature-256: " + HmacSha256Hex("b-secret", body)})),
            202);
  EXPECT_EQ(metrics_.Value("schedbridge_webhook_requests_total",
                           {{"provider", "calcom"}, {"source", "team-b"}, {"code", "202"}}),
            1);
}

TEST_F(LimitsTest, ARequestWaitingForKafkaHoldsNoThread) {
  Start();  // one I/O thread
  publisher_.mode = FakePublisher::Mode::kHold;
  const std::string held_body = Booking("parked");
  const int parked = Connect(port_);
  SendAll(parked, RawPost("/webhooks/calcom", held_body, Signed(held_body)));
  for (int i = 0; i < 400 && publisher_.Published().empty(); ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(publisher_.Published().size(), 1u);
  // While it waits for its ack, the same thread answers others.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(testing::RawStatus(port_, RawPost("/webhooks/calcom", "{}", {}), 0, 0ms, 2000), 401);
  }
  publisher_.Release(true);
  EXPECT_EQ(StatusOf(ReadAnswers(parked, 1, 3000)), 202);
  close(parked);
}

/// Acknowledges whatever is held, every `period`, from its own thread: like
/// librdkafka's delivery reports, the answers come off the I/O thread.
class AckThread {
 public:
  AckThread(FakePublisher& publisher, std::chrono::microseconds period)
      : thread_([this, &publisher, period] {
          while (!stop_) {
            publisher.Release(true);
            std::this_thread::sleep_for(period);
          }
        }) {}
  ~AckThread() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// Sends `count` webhooks one after another on one keep-alive connection
/// (a new one only if the server closed it); returns the statuses.
std::vector<int> OneAfterAnother(int port, const std::string& name, int count) {
  std::vector<int> statuses;
  int fd = Connect(port);
  for (int i = 0; i < count; ++i) {
    const std::string body = Booking(name + "-" + std::to_string(i));
    SendAll(fd, RawPost("/webhooks/calcom", body, Signed(body), true, false));
    const std::string answer = ReadAnswers(fd, 1, 5000);
    statuses.push_back(StatusOf(answer));
    if (answer.find("Connection: close") != std::string::npos) {
      close(fd);
      fd = Connect(port);
    }
  }
  // Exactly one answer per request: nothing more arrives.
  if (testing::Readable(fd, 50)) statuses.push_back(-1);
  close(fd);
  return statuses;
}

/// OneAfterAnother from `clients` threads at once; the statuses per client.
std::vector<std::vector<int>> FromClients(int port, const std::string& name, int clients,
                                          int each) {
  std::vector<std::vector<int>> statuses(clients);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back(
        [&, c] { statuses[c] = OneAfterAnother(port, name + "-" + std::to_string(c), each); });
  }
  for (auto& t : threads) t.join();
  return statuses;
}

TEST_F(LimitsTest, AnswersFromTheAckThreadKeepTheConnectionGoing) {
  Start();  // one I/O thread
  publisher_.mode = FakePublisher::Mode::kHold;
  AckThread acks(publisher_, 100us);
  constexpr int kClients = 8, kEach = 40;
  const std::vector<std::vector<int>> statuses = FromClients(port_, "keep", kClients, kEach);
  for (int c = 0; c < kClients; ++c) {
    EXPECT_EQ(statuses[c], std::vector<int>(kEach, 202)) << "client " << c;
  }
  EXPECT_EQ(metrics_.Value("schedbridge_webhook_requests_total",
                           {{"provider", "calcom"}, {"source", "default"}, {"code", "202"}}),
            kClients * kEach);
  EXPECT_EQ(publisher_.Published().size(), static_cast<size_t>(kClients * kEach));

  // Pipelined: the next request is already read when the ack thread has the
  // answer; every answer comes in order.
  const std::string a = Booking("acked-pipe-a"), b = Booking("acked-pipe-b");
  const int fd = Connect(port_);
  SendAll(fd, RawPost("/webhooks/calcom", a, Signed(a), true, false) +
                  RawPost("/webhooks/calcom", "", {"Content-Type: application/json"}, true, false) +
                  RawPost("/webhooks/calcom", b, Signed(b), true, true));
  const std::string answers = ReadAnswers(fd, 3, 5000);
  close(fd);
  const size_t first = answers.find("HTTP/1.1 202");
  const size_t second = answers.find("HTTP/1.1 400", first);
  const size_t third = answers.find("HTTP/1.1 202", second);
  EXPECT_NE(first, std::string::npos) << answers;
  EXPECT_NE(second, std::string::npos) << answers;
  EXPECT_NE(third, std::string::npos) << answers;
}

TEST_F(LimitsTest, AnAckRacingTheAckDeadlineGivesOneAnswer) {
  // The ack thread's period straddles the deadline: some requests are
  // answered 202 by it, others 503 by the I/O thread's sweep, one each.
  Start({}, 100ms);
  publisher_.mode = FakePublisher::Mode::kHold;
  AckThread acks(publisher_, 100ms);
  constexpr int kClients = 4, kEach = 15;
  const std::vector<std::vector<int>> statuses = FromClients(port_, "race", kClients, kEach);
  double answered = 0;
  for (int c = 0; c < kClients; ++c) {
    ASSERT_EQ(statuses[c].size(), static_cast<size_t>(kEach)) << "client " << c;
    for (int status : statuses[c]) EXPECT_TRUE(status == 202 || status == 503) << status;
  }
  for (const char* code : {"202", "503"}) {
    answered += metrics_.Value("schedbridge_webhook_requests_total",
                               {{"provider", "calcom"}, {"source", "default"}, {"code", code}});
  }
  EXPECT_EQ(answered, kClients * kEach);
}

TEST_F(LimitsTest, AConnectionLeftRightAfterItsAnswerIsReleased) {
  // The client closes as soon as it has its answer, which the ack thread
  // handed over: the connection is still destroyed and its slot released
  // (one released late, or never, would refuse the next).
  Start([](HttpSettings& s) { s.max_connections_per_address = 4; });
  publisher_.mode = FakePublisher::Mode::kHold;
  AckThread acks(publisher_, 50us);
  constexpr int kClients = 4, kEach = 50;
  std::vector<std::thread> clients;
  std::atomic<int> accepted{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kEach; ++i) {
        const std::string body = Booking("left-" + std::to_string(c) + "-" + std::to_string(i));
        int fd = Connect(port_);
        // At most 4 from this address: a slot not yet released is refused.
        for (int tries = 0; fd >= 0 && tries < 200; ++tries) {
          SendAll(fd, RawPost("/webhooks/calcom", body, Signed(body), true, false));
          const std::string answer = ReadAnswers(fd, 1, 5000);
          close(fd);
          if (StatusOf(answer) == 202) {
            ++accepted;
            break;
          }
          std::this_thread::sleep_for(5ms);
          fd = Connect(port_);
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(accepted, kClients * kEach);
  for (int i = 0; i < 400 && server_->open_connections() != 0; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(server_->open_connections(), 0u);
  EXPECT_EQ(Valid(), 202);
}

TEST_F(LimitsTest, AnAckThatNeverComesIs503AtTheDeadline) {
  Start({}, 300ms);
  publisher_.mode = FakePublisher::Mode::kHold;
  const std::string body = Booking("late");
  const auto started = std::chrono::steady_clock::now();
  const int fd = Connect(port_);
  SendAll(fd, RawPost("/webhooks/calcom", body, Signed(body)));
  const std::string answer = ReadAnswers(fd, 1, 5000);
  close(fd);
  EXPECT_EQ(StatusOf(answer), 503) << answer;
  EXPECT_NE(answer.find("Retry-After: 5"), std::string::npos);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
  // The ack that comes later is remembered: the provider's retry is a duplicate.
  publisher_.Release(true);
  const int retry = Connect(port_);
  SendAll(retry, RawPost("/webhooks/calcom", body, Signed(body)));
  EXPECT_EQ(StatusOf(ReadAnswers(retry, 1, 3000)), 200);
  close(retry);
}

TEST_F(LimitsTest, PipelinedRequestsAreAnsweredInOrder) {
  Start();
  const std::string a = Booking("pipe-a"), b = Booking("pipe-b");
  const int fd = Connect(port_);
  SendAll(fd, RawPost("/webhooks/calcom", a, Signed(a), true, false) +
                  RawPost("/webhooks/calcom", "", {"Content-Type: application/json"}, true, false) +
                  RawPost("/webhooks/calcom", b, Signed(b), true, true));
  const std::string answers = ReadAnswers(fd, 3, 5000);
  close(fd);
  const size_t first = answers.find("HTTP/1.1 202");
  const size_t second = answers.find("HTTP/1.1 400");
  const size_t third = answers.find("HTTP/1.1 202", first + 1);
  ASSERT_NE(first, std::string::npos) << answers;
  ASSERT_NE(second, std::string::npos) << answers;
  ASSERT_NE(third, std::string::npos) << answers;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_EQ(publisher_.Published().size(), 2u);
}

TEST_F(LimitsTest, ExpectContinueAndChunkedBodies) {
  Start();
  const std::string body = Booking("continue");
  const int fd = Connect(port_);
  std::string head = RawPost("/webhooks/calcom", "", Signed(body), false, true);
  head.insert(head.size() - 2,
              "Expect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) + "\r\n");
  SendAll(fd, head);
  ASSERT_TRUE(testing::Readable(fd, 3000));
  char buf[256];
  const ssize_t n = recv(fd, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)).rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u);
  SendAll(fd, body);
  EXPECT_EQ(StatusOf(ReadAnswers(fd, 1, 3000)), 202);
  close(fd);

  // Refused from the head: the final answer comes instead of 100 Continue.
  const int big = Connect(port_);
  SendAll(big,
          "POST /webhooks/calcom HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Type: "
          "application/json\r\nContent-Length: 2000000\r\n\r\n");
  EXPECT_EQ(StatusOf(ReadAnswers(big, 1, 3000)), 413);
  close(big);

  const std::string chunked_body = Booking("chunked");
  std::string chunked = RawPost("/webhooks/calcom", "", Signed(chunked_body), false, true);
  chunked.insert(chunked.size() - 2, "Transfer-Encoding: chunked\r\n");
  char size[16];
  std::snprintf(size, sizeof size, "%zx", chunked_body.size() - 10);
  chunked += std::string(size) + "\r\n" + chunked_body.substr(0, chunked_body.size() - 10) +
             "\r\na\r\n" + chunked_body.substr(chunked_body.size() - 10) + "\r\n0\r\n\r\n";
  EXPECT_EQ(testing::RawStatus(port_, chunked), 202);
}

TEST_F(LimitsTest, StopAnswersWhatIsInFlightAndClosesIdleConnections) {
  Start();
  const int idle = Connect(port_);
  publisher_.mode = FakePublisher::Mode::kHold;
  const std::string body = Booking("in-flight");
  const int busy = Connect(port_);
  SendAll(busy, RawPost("/webhooks/calcom", body, Signed(body)));
  for (int i = 0; i < 400 && publisher_.Published().empty(); ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(publisher_.Published().size(), 1u);
  std::thread stopper([&] { server_->Stop(5s); });
  EXPECT_TRUE(ClosedByPeer(idle, 2000));
  std::this_thread::sleep_for(100ms);
  publisher_.Release(true);
  EXPECT_EQ(StatusOf(ReadAnswers(busy, 1, 3000)), 202);
  stopper.join();
  close(idle);
  close(busy);
  EXPECT_EQ(server_->open_connections(), 0u);
  // No longer accepting.
  EXPECT_LT(Connect(port_), 0);
}

TEST_F(LimitsTest, ManyIdleAndSlowClientsDoNotStopAValidDelivery) {
  Start();
  RaiseOpenFileLimit();
  // Spread over source addresses so the per-address cap does not hide the total.
  std::vector<int> held;
  for (int i = 0; i < 1000; ++i) {
    const std::string source =
        "127.0." + std::to_string(1 + i / 200) + "." + std::to_string(1 + i % 200);
    const int fd = Connect(port_, source);
    if (fd >= 0) held.push_back(fd);
  }
  std::vector<int> slow;
  for (int i = 0; i < 200; ++i) {
    const int fd = Connect(port_, "127.1.0." + std::to_string(1 + i));
    if (fd < 0) continue;
    SendAll(fd, "POST /webhooks/calcom HTTP/1.1\r\nHost: t\r\nX-Slow: ");
    slow.push_back(fd);
  }
  EXPECT_GE(held.size() + slow.size(), 1100u);
  EXPECT_EQ(Valid("127.2.0.1"), 202);
  for (int fd : slow) SendAll(fd, "a");
  EXPECT_EQ(Valid("127.2.0.2"), 202);
  for (int fd : held) close(fd);
  for (int fd : slow) close(fd);
}

}  // namespace
}  // namespace bridge

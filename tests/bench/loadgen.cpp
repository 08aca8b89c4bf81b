// schedbridge_loadgen: drives a webhook endpoint with distinct, validly signed
// Cal.com deliveries over keep-alive connections.
//
//   closed loop (saturation): every connection sends as fast as answers come
//   open loop (--rate R):      requests are due at fixed times; latency is
//                              measured from the time a request was due, not
//                              sent, so a stalled server cannot hide its queue
//                              (coordinated omission)
//
// Each request goes whole, as the providers send it. cpp-httplib would
// otherwise add `Expect: 100-continue` to every body over 1 KiB and wait for
// the interim answer before sending the body: a round trip per webhook that
// no provider makes (--expect-continue measures it).
//
// Prints one JSON object with the counts and latency percentiles.

#define CPPHTTPLIB_EXPECT_100_THRESHOLD 0
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bridge/crypto/hmac.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string path = "/webhooks/calcom";
  std::string secret = "bench-secret";
  int connections = 32;
  double seconds = 10;
  double rate = 0;  // requests/s across all connections; 0 = closed loop
  std::string run_id;
  bool expect_continue = false;
};

/// A ~2.7 KB Cal.com BOOKING_CREATED body with a unique uid and time.
std::string Body(const std::string& run_id, int connection, long n) {
  const std::string uid = run_id + "-" + std::to_string(connection) + "-" + std::to_string(n);
  std::string attendees;
  for (int i = 0; i < 8; ++i) {
    attendees +=
        std::string(i ? "," : "") + R"({"email":"guest)" + std::to_string(i) +
        R"(@example.org","name":"Guest Number )" + std::to_string(i) +
        R"(","firstName":"Guest","lastName":"Number","timeZone":"America/New_York","language":{"locale":"en"},"utcOffset":-300})";
  }
  return R"({"triggerEvent":"BOOKING_CREATED","createdAt":"2026-01-01T00:00:00.)" +
         std::to_string(n % 1000) +
         R"(Z","payload":{"bookerUrl":"https://cal.com","title":"Intake Call between Maya Okafor and Liam Chen","startTime":"2026-03-18T14:00:00Z","endTime":"2026-03-18T14:30:00Z","additionalNotes":"Please review the Q3 intake form beforehand.","type":"intake-call","description":"Please review the Q3 intake form beforehand.","eventTypeId":98231,"organizer":{"id":4021,"name":"Maya Okafor","email":"maya@northwind-clinic.example","username":"maya-okafor","timeZone":"Europe/Berlin","language":{"locale":"en"},"timeFormat":"h:mma","utcOffset":60},"attendees":[)" +
         attendees + R"(],"location":"integrations:daily","iCalUID":")" + uid +
         R"(@Cal.com","iCalSequence":0,"uid":")" + uid +
         R"(","eventTitle":"Intake Call","eventDescription":"30 minute intake call","price":0,"currency":"usd","length":30,"bookingId":551207,"metadata":{"videoCallUrl":"https://app.cal.com/video/)" +
         uid + R"("},"status":"ACCEPTED"}})";
}

double Percentile(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return static_cast<double>(v[i]) / 1000.0;  // µs → ms
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a server that goes away is counted, not fatal
  Options o;
  CLI::App app{
      "schedbridge_loadgen: drives a webhook endpoint with distinct, validly signed Cal.com "
      "deliveries over keep-alive connections and prints one JSON object of counts and latency "
      "percentiles. Closed loop by default; --rate R is an open loop (latency from the time a "
      "request was due)."};
  app.add_option("--host", o.host, "server address")->capture_default_str();
  app.add_option("--port", o.port, "server port")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  app.add_option("--path", o.path, "request path")->capture_default_str();
  app.add_option("--secret", o.secret, "Cal.com signing secret of the source")
      ->capture_default_str();
  app.add_option("--connections", o.connections, "keep-alive connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--seconds", o.seconds, "how long to send")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--rate", o.rate, "requests per second in all (0: closed loop)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--run-id", o.run_id, "prefix of the booking uids (default: random)");
  app.add_flag("--expect-continue", o.expect_continue,
               "send Expect: 100-continue and the body after the server's 100 (curl's way for "
               "large bodies; no provider does it)");
  CLI11_PARSE(app, argc, argv);
  if (o.run_id.empty()) o.run_id = "r" + std::to_string(std::random_device{}());

  std::mutex mu;
  std::vector<int64_t> latencies_us;
  std::map<int, long> statuses;
  std::atomic<long> sent{0};
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  std::vector<std::thread> threads;
  for (int c = 0; c < o.connections; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client(o.host, o.port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(30, 0);
      std::vector<int64_t> local;
      std::map<int, long> local_status;
      // Open loop: this connection's share of the rate, offset so connections interleave.
      const double interval = o.rate > 0 ? o.connections / o.rate : 0;
      std::this_thread::sleep_until(start);
      for (long n = 0;; ++n) {
        auto due = Clock::now();
        if (interval > 0) {
          due = start +
                std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                    interval * (static_cast<double>(n) + static_cast<double>(c) / o.connections)));
          if (due >= end) break;
          std::this_thread::sleep_until(due);
        } else if (due >= end) {
          break;
        }
        const std::string body = Body(o.run_id, c, n);
        const std::string sig = bridge::crypto::HexLower(
            bridge::crypto::Hmac(bridge::crypto::Digest::kSha256, o.secret, body));
        httplib::Headers headers = {{"X-Cal-Signature-256", sig}};
        if (o.expect_continue) headers.emplace("Expect", "100-continue");
        auto r = client.Post(o.path.c_str(), headers, body, "application/json");
        const auto done = Clock::now();
        local.push_back(std::chrono::duration_cast<std::chrono::microseconds>(done - due).count());
        ++local_status[r ? r->status : -1];
        ++sent;
      }
      std::lock_guard lock(mu);
      latencies_us.insert(latencies_us.end(), local.begin(), local.end());
      for (const auto& [s, n] : local_status) statuses[s] += n;
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(std::min(Clock::now(), end) - start).count();
  long ok = 0;
  std::string status_json;
  for (const auto& [s, n] : statuses) {
    if (s >= 200 && s < 300) ok += n;
    status_json += (status_json.empty() ? "" : ",") + std::string("\"") + std::to_string(s) +
                   "\":" + std::to_string(n);
  }
  std::printf(
      "{\"mode\":\"%s\",\"connections\":%d,\"offered_rate\":%.0f,\"seconds\":%.2f,\"requests\":%ld,"
      "\"ok\":%ld,\"ok_per_second\":%.0f,\"statuses\":{%s},\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
      "\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
      o.rate > 0 ? "open" : "closed", o.connections, o.rate, elapsed, sent.load(), ok,
      static_cast<double>(ok) / elapsed, status_json.c_str(), Percentile(latencies_us, 0.50),
      Percentile(latencies_us, 0.99), Percentile(latencies_us, 0.999),
      latencies_us.empty()
          ? 0.0
          : static_cast<double>(*std::max_element(latencies_us.begin(), latencies_us.end())) /
                1000.0);
  return 0;
}

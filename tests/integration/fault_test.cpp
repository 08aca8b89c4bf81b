// Faults under steady load against a real broker. Each test records every
// event id answered 2xx, then reads the topic: nothing answered 2xx may be
// missing.
//   - the broker SIGKILLed and restarted (its own broker, not the shared one)
//   - the broker not there at start, appearing later
//   - schedbridge SIGTERMed, and SIGKILLed, under load

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "bridge/util/json.h"
#include "kafka_helpers.h"
#include "support.h"

namespace bridge::testing {
namespace {

/// Posts unique signed Cal.com webhooks from several threads until stopped.
class Load {
 public:
  struct Result {
    int status;
    std::vector<std::string> ids;
    std::string retry_after;
    std::chrono::milliseconds latency;
  };

  Load(int port, int threads) {
    for (int t = 0; t < threads; ++t) {
      workers_.emplace_back([this, port, t] {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(30, 0);
        c.set_connection_timeout(2, 0);
        for (int i = 0; !stop_; ++i) {
          const std::string body =
              R"({"triggerEvent":"BOOKING_CREATED","createdAt":"2026-01-01T00:00:00Z","payload":{"uid":"load-)" +
              std::to_string(getpid()) + "-" + std::to_string(t) + "-" + std::to_string(i) + "\"}}";
          const auto started = std::chrono::steady_clock::now();
          auto r = c.Post("/webhooks/calcom",
                          {{"X-Cal-Signature-256", HmacSha256Hex("fault-test-secret", body)}}, body,
                          "application/json");
          Result res{r ? r->status : -1,
                     {},
                     r ? r->get_header_value("Retry-After") : "",
                     std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - started)};
          if (r) {
            rapidjson::Document d;
            if (json::Parse(r->body, d).ok && d.IsObject() && d.HasMember("event_ids")) {
              for (const auto& id : d["event_ids"].GetArray()) res.ids.emplace_back(id.GetString());
            }
          }
          {
            std::lock_guard lock(mu_);
            results_.push_back(std::move(res));
          }
          if (!r) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      });
    }
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& w : workers_) {
      if (w.joinable()) w.join();
    }
  }
  std::vector<Result> Results() {
    std::lock_guard lock(mu_);
    return results_;
  }
  size_t Count(int status) {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& r : results_) n += r.status == status ? 1 : 0;
    return n;
  }
  std::set<std::string> AcceptedIds() {
    std::lock_guard lock(mu_);
    std::set<std::string> ids;
    for (const auto& r : results_) {
      if (r.status == 202) ids.insert(r.ids.begin(), r.ids.end());
    }
    return ids;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Result> results_;
  std::vector<std::thread> workers_;
};

void ExpectAllInTopic(const std::string& brokers, const std::string& topic,
                      const std::set<std::string>& accepted) {
  const int64_t total = MessageCount(brokers, topic);
  std::set<std::string> present;
  for (const Consumed& m :
       Consume(brokers, topic, static_cast<size_t>(total), std::chrono::seconds(30))) {
    present.insert(m.headers.at("ce_id"));
  }
  size_t missing = 0;
  for (const auto& id : accepted) missing += present.count(id) ? 0 : 1;
  EXPECT_EQ(missing, 0u) << "of " << accepted.size() << " event ids answered 202";
}

bool WaitReady(int port, bool ready, std::chrono::seconds timeout) {
  httplib::Client c("127.0.0.1", port);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = c.Get("/readyz");
    if (r && (r->status == 200) == ready) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

int RunScript(const std::string& args) {
  return std::system(
      (std::string(SCHEDBRIDGE_SOURCE_DIR) + "/scripts/kafka " + args + " > /dev/null").c_str());
}

std::map<std::string, std::string> ServiceEnv(const std::string& brokers,
                                              const std::string& topic) {
  return {{"SCHEDBRIDGE_KAFKA_BROKERS", brokers},
          {"SCHEDBRIDGE_TOPIC_EVENTS", topic},
          {"SCHEDBRIDGE_TOPIC_DLQ", topic + "-dlq"},
          {"SCHEDBRIDGE_SECRET_CALCOM", "fault-test-secret"},
          {"SCHEDBRIDGE_ACK_TIMEOUT_MS", "2000"},
          {"SCHEDBRIDGE_KAFKA_RECONNECT_BACKOFF_MAX_MS", "500"}};
}

TEST(BrokerFaults, BrokerAbsentAtStartThenKilledAndRestartedUnderLoad) {
  char dir_template[] = "/tmp/schedbridge-fault-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const int port = UnusedPort();
  const std::string brokers = "127.0.0.1:" + std::to_string(port);
  const std::string topic = RandomName("fault-events");

  // 1. No broker yet: the service starts, is not ready, answers 503.
  ServiceProcess service(ServiceEnv(brokers, topic));
  EXPECT_TRUE(WaitReady(service.admin_port(), false, std::chrono::seconds(5)));
  {
    Load probe(service.port(), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    probe.Stop();
    EXPECT_GT(probe.Count(503), 0u);
    EXPECT_EQ(probe.Count(202), 0u);
  }
  // 2. The broker appears: the service recovers by itself.
  ASSERT_EQ(RunScript("start --port " + std::to_string(port) + " --dir " + dir + " --topics " +
                      topic + " --partitions 3"),
            0);
  ASSERT_TRUE(WaitReady(service.admin_port(), true, std::chrono::seconds(60))) << service.Log();

  // 3. Steady load; the broker is SIGKILLed, then restarted with its data.
  Load load(service.port(), 4);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const size_t accepted_before = load.Count(202);
  EXPECT_GT(accepted_before, 0u);
  std::ifstream pid_file(dir + "/pid");
  int broker_pid = 0;
  pid_file >> broker_pid;
  ASSERT_GT(broker_pid, 0);
  kill(broker_pid, SIGKILL);
  const auto killed_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitReady(service.admin_port(), false, std::chrono::seconds(20)));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  ASSERT_EQ(RunScript("start --keep --dir " + dir), 0);
  EXPECT_TRUE(WaitReady(service.admin_port(), true, std::chrono::seconds(60))) << service.Log();
  const size_t accepted_at_recovery = load.Count(202);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  load.Stop();

  const auto results = load.Results();
  size_t outage_503 = 0;
  std::chrono::milliseconds slowest{0};
  for (const auto& r : results) {
    if (r.status == 503) {
      ++outage_503;
      EXPECT_EQ(r.retry_after, "5");
    }
    EXPECT_TRUE(r.status == 202 || r.status == 503 || r.status == 200) << r.status;
    slowest = std::max(slowest, r.latency);
  }
  EXPECT_GT(outage_503, 0u);                             // the outage was answered 503...
  EXPECT_LT(slowest, std::chrono::milliseconds(10000));  // ...within the ack deadline, no hang
  EXPECT_GT(load.Count(202), accepted_at_recovery);      // and it accepts again afterwards
  std::printf(
      "  broker kill: %zu requests, %zu accepted, %zu answered 503, slowest %lld ms, outage %lld "
      "s\n",
      results.size(), load.Count(202), outage_503, static_cast<long long>(slowest.count()),
      static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::steady_clock::now() - killed_at)
                                 .count()));
  ExpectAllInTopic(brokers, topic, load.AcceptedIds());
  EXPECT_EQ(service.Stop(SIGTERM), 0);
  RunScript("stop --dir " + dir);
  std::filesystem::remove_all(dir);
}

class ServiceFaults : public ::testing::TestWithParam<int> {};

TEST_P(ServiceFaults, NothingAnswered2xxIsMissingAfterTheServiceDies) {
  const int signal = GetParam();
  const std::string brokers = TestBrokers();
  const std::string topic = RandomName("svc-fault-events");
  CreateTopic(brokers, topic, 3);
  ServiceProcess service(ServiceEnv(brokers, topic));
  ASSERT_TRUE(service.WaitReady(std::chrono::seconds(30))) << service.Log();
  Load load(service.port(), 6);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const int exit_code = service.Stop(signal);
  load.Stop();
  if (signal == SIGTERM) {
    EXPECT_EQ(exit_code, 0) << service.Log();
  }
  size_t other = 0;
  for (const auto& r : load.Results()) {
    // In flight at SIGTERM: completed or 503; after: connection refused (-1).
    other += (r.status == 202 || r.status == 503 || r.status == -1) ? 0 : 1;
  }
  EXPECT_EQ(other, 0u);
  EXPECT_GT(load.Count(202), 0u);
  std::printf("  %s under load: %zu accepted, %zu answered 503\n",
              signal == SIGTERM ? "SIGTERM" : "SIGKILL", load.Count(202), load.Count(503));
  ExpectAllInTopic(brokers, topic, load.AcceptedIds());
}

INSTANTIATE_TEST_SUITE_P(Signals, ServiceFaults, ::testing::Values(SIGTERM, SIGKILL),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return std::string(p.param == SIGTERM ? "SIGTERM" : "SIGKILL");
                         });

}  // namespace
}  // namespace bridge::testing

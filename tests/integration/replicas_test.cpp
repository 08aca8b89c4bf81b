// Idempotence across replicas and restarts, and the durable spool, with the
// real binary against the real broker:
//   - deliver to replica A, redeliver to replica B → duplicate; restart A,
//     redeliver → duplicate; the topic holds the event once
//   - a restart reads back a window many times its prefetch queue, whole
//   - the race window: redeliveries to B at increasing delays after A's 2xx
//   - `ack: spool`: kill -9 under load while Kafka is down, restart with Kafka
//     up (and kill -9 again mid-drain): every 2xx event once in the topic

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "bridge/util/json.h"
#include "kafka_helpers.h"
#include "support.h"

namespace bridge::testing {
namespace {

constexpr const char* kSecret = "replica-secret";

std::string Booking(const std::string& uid) {
  return R"({"triggerEvent":"BOOKING_CREATED","createdAt":"2026-01-01T00:00:00Z","payload":{"uid":")" +
         uid +
         R"(","title":"Intro","startTime":"2026-02-01T10:00:00Z","endTime":"2026-02-01T10:30:00Z"}})";
}

struct Answer {
  int status = -1;
  std::vector<std::string> ids;
};

Answer Deliver(int port, const std::string& body, const std::string& path = "/webhooks/calcom") {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  c.set_connection_timeout(2, 0);
  auto r = c.Post(path.c_str(), {{"X-Cal-Signature-256", HmacSha256Hex(kSecret, body)}}, body,
                  "application/json");
  Answer a;
  if (!r) return a;
  a.status = r->status;
  rapidjson::Document d;
  if (json::Parse(r->body, d).ok && d.IsObject() && d.HasMember("event_ids")) {
    for (const auto& id : d["event_ids"].GetArray()) a.ids.emplace_back(id.GetString());
  }
  return a;
}

/// A metric's value from /metrics (the first sample whose line starts with `series`).
double Metric(int port, const std::string& series) {
  httplib::Client c("127.0.0.1", port);
  auto r = c.Get("/metrics");
  if (!r) return -1;
  size_t at = 0;
  while ((at = r->body.find(series, at)) != std::string::npos) {
    if (at == 0 || r->body[at - 1] == '\n') {
      const size_t space = r->body.find(' ', at + series.size());
      const size_t end = r->body.find('\n', at);
      if (space != std::string::npos) return std::stod(r->body.substr(space + 1, end - space - 1));
    }
    at += series.size();
  }
  return 0;
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

std::map<std::string, std::string> Env(const std::string& topic, const std::string& replica) {
  return {{"SCHEDBRIDGE_KAFKA_BROKERS", TestBrokers()}, {"SCHEDBRIDGE_TOPIC_EVENTS", topic},
          {"SCHEDBRIDGE_TOPIC_DLQ", topic + "-dlq"},    {"SCHEDBRIDGE_SECRET_CALCOM", kSecret},
          {"SCHEDBRIDGE_REPLICA_ID", replica},          {"SCHEDBRIDGE_ACK_TIMEOUT_MS", "10000"}};
}

/// ce_id → how many times it is in the topic.
std::map<std::string, int> IdCounts(const std::string& topic) {
  const int64_t total = MessageCount(TestBrokers(), topic);
  std::map<std::string, int> counts;
  for (const Consumed& m :
       Consume(TestBrokers(), topic, static_cast<size_t>(total), std::chrono::seconds(60))) {
    ++counts[m.headers.at("ce_id")];
  }
  return counts;
}

TEST(Replicas, ARedeliveryToAnotherReplicaOrAfterARestartIsADuplicate) {
  const std::string topic = RandomName("replica-events");
  CreateTopic(TestBrokers(), topic, 3);
  auto a = std::make_unique<ServiceProcess>(Env(topic, "replica-a"));
  ServiceProcess b(Env(topic, "replica-b"));
  ASSERT_TRUE(a->WaitReady(std::chrono::seconds(30))) << a->Log();
  ASSERT_TRUE(b.WaitReady(std::chrono::seconds(30))) << b.Log();

  const std::string body = Booking("cross-replica-1");
  const Answer first = Deliver(a->port(), body);
  ASSERT_EQ(first.status, 202);
  ASSERT_EQ(first.ids.size(), 1u);
  // B learns the id from the topic (within the race window measured below).
  ASSERT_TRUE(
      WaitUntil([&] { return Metric(b.admin_port(), "schedbridge_dedup_ids_read_total") >= 1; },
                std::chrono::seconds(20)))
      << b.Log();
  const Answer on_b = Deliver(b.port(), body);
  EXPECT_EQ(on_b.status, 200);
  EXPECT_EQ(on_b.ids, first.ids);
  EXPECT_EQ(Metric(b.admin_port(),
                   R"(schedbridge_duplicates_total{provider="calcom",published_by="replica-a"})"),
            1);

  // A restarts: it reads the window back before it says it is ready.
  EXPECT_EQ(a->Stop(SIGTERM), 0);
  a = std::make_unique<ServiceProcess>(Env(topic, "replica-a"));
  ASSERT_TRUE(a->WaitReady(std::chrono::seconds(30))) << a->Log();
  EXPECT_EQ(Metric(a->admin_port(), "schedbridge_dedup_seeded"), 1);
  const Answer after_restart = Deliver(a->port(), body);
  EXPECT_EQ(after_restart.status, 200);
  EXPECT_EQ(after_restart.ids, first.ids);

  EXPECT_EQ(MessageCount(TestBrokers(), topic), 1);
  const auto counts = IdCounts(topic);
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts.begin()->first, first.ids[0]);
  EXPECT_EQ(a->Stop(SIGTERM), 0);
  EXPECT_EQ(b.Stop(SIGTERM), 0);
}

// A restarted replica reads back a window of ~40 MB: five times its 8 MiB
// prefetch queue, so librdkafka pauses its fetches many times during the seed
// (kafka/id_follower.cpp: Nudge). Every id must be in the index when it says
// it is seeded (its log line, written at that moment), the newest included,
// and before /readyz says 200.
TEST(Replicas, ARestartSeedsAWindowManyTimesItsPrefetchQueue) {
  const std::string topic = RandomName("replica-seed");
  CreateTopic(TestBrokers(), topic, 3);
  constexpr int kFiller = 20000;
  ProduceFiller(TestBrokers(), topic, kFiller, 2048, "replica-filler");
  auto env = Env(topic, "replica-a");
  env["SCHEDBRIDGE_LOG_LEVEL"] = "info";  // the dedup_index_seeded line
  auto a = std::make_unique<ServiceProcess>(env);
  ASSERT_TRUE(a->WaitReady(std::chrono::seconds(120))) << a->Log();
  const std::string body = Booking("seed-beyond-the-queue");
  const Answer first = Deliver(a->port(), body);  // the newest record of the window
  ASSERT_EQ(first.status, 202);
  EXPECT_EQ(a->Stop(SIGTERM), 0);

  a = std::make_unique<ServiceProcess>(env);
  ASSERT_TRUE(a->WaitReady(std::chrono::seconds(120))) << a->Log();
  const std::string log = a->Log();
  static const std::regex kSeeded(R"("event":"dedup_index_seeded"[^\n]*"ids":(\d+),"read":(\d+))");
  std::smatch seeded;
  ASSERT_TRUE(std::regex_search(log, seeded, kSeeded)) << log;
  EXPECT_EQ(std::stol(seeded[1].str()), kFiller + 1);
  EXPECT_EQ(std::stol(seeded[2].str()), kFiller + 1);
  EXPECT_EQ(Metric(a->admin_port(), "schedbridge_dedup_seeded"), 1);
  const Answer again = Deliver(a->port(), body);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.ids, first.ids);
  EXPECT_EQ(MessageCount(TestBrokers(), topic), kFiller + 1);
  EXPECT_EQ(a->Stop(SIGTERM), 0);
}

class RaceWindow : public ::testing::TestWithParam<int> {};

TEST_P(RaceWindow, IsMeasured) {
  // Redeliver to B at increasing delays after A answered 2xx; count how many
  // B still publishes. The topic must hold exactly one message per 2xx.
  const int fetch_wait_ms = GetParam();
  std::printf("  SCHEDBRIDGE_DEDUP_FETCH_WAIT_MS=%d\n", fetch_wait_ms);
  const std::string topic = RandomName("race-events");
  CreateTopic(TestBrokers(), topic, 3);
  auto env_a = Env(topic, "replica-a"), env_b = Env(topic, "replica-b");
  env_a["SCHEDBRIDGE_DEDUP_FETCH_WAIT_MS"] = env_b["SCHEDBRIDGE_DEDUP_FETCH_WAIT_MS"] =
      std::to_string(fetch_wait_ms);
  ServiceProcess a(env_a), b(env_b);
  ASSERT_TRUE(a.WaitReady(std::chrono::seconds(30))) << a.Log();
  ASSERT_TRUE(b.WaitReady(std::chrono::seconds(30))) << b.Log();
  int accepted = 0;
  std::printf("  delay after A's 2xx → redeliveries to B recognised as duplicate\n");
  for (int delay_ms : {0, 5, 10, 25, 50, 100, 200, 400}) {
    int duplicates = 0;
    const int n = 20;
    for (int i = 0; i < n; ++i) {
      const std::string body =
          Booking("race-" + std::to_string(delay_ms) + "-" + std::to_string(i));
      const Answer first = Deliver(a.port(), body);
      ASSERT_EQ(first.status, 202);
      ++accepted;
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      const Answer second = Deliver(b.port(), body);
      ASSERT_TRUE(second.status == 200 || second.status == 202) << second.status;
      if (second.status == 200) {
        ++duplicates;
      } else {
        ++accepted;  // lost the race: published twice, same event id
      }
    }
    std::printf("    %4d ms: %2d/%d\n", delay_ms, duplicates, n);
  }
  // B's own view: produce-to-known lag of A's ids.
  const double count = Metric(b.admin_port(), "schedbridge_dedup_peer_lag_seconds_count");
  const double sum = Metric(b.admin_port(), "schedbridge_dedup_peer_lag_seconds_sum");
  std::printf("  peer lag on B: %.0f ids, mean %.1f ms", count, count > 0 ? 1000 * sum / count : 0);
  for (const char* le : {"0.01", "0.025", "0.05", "0.1", "0.25", "0.5"}) {
    std::printf(
        ", ≤%s s: %.0f", le,
        Metric(b.admin_port(),
               std::string("schedbridge_dedup_peer_lag_seconds_bucket{le=\"") + le + "\"}"));
  }
  std::printf("\n");
  EXPECT_GT(count, 0);
  EXPECT_EQ(MessageCount(TestBrokers(), topic), accepted);
  EXPECT_EQ(a.Stop(SIGTERM), 0);
  EXPECT_EQ(b.Stop(SIGTERM), 0);
}

// The default (100 ms: few fetches under load) and a tight setting (5 ms).
INSTANTIATE_TEST_SUITE_P(FetchWait, RaceWindow, ::testing::Values(100, 5));

/// Unique signed deliveries from several threads until stopped; remembers the 2xx ids.
class Load {
 public:
  Load(int port, int threads, const std::string& tag) {
    for (int t = 0; t < threads; ++t) {
      workers_.emplace_back([this, port, t, tag] {
        for (int i = 0; !stop_; ++i) {
          const Answer a =
              Deliver(port, Booking(tag + "-" + std::to_string(t) + "-" + std::to_string(i)),
                      "/webhooks/calcom/no-retries");
          std::lock_guard lock(mu_);
          ++statuses_[a.status];
          if (a.status == 202) accepted_.insert(a.ids.begin(), a.ids.end());
          if (a.status < 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
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
  std::set<std::string> accepted() {
    std::lock_guard lock(mu_);
    return accepted_;
  }
  std::map<int, int> statuses() {
    std::lock_guard lock(mu_);
    return statuses_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::set<std::string> accepted_;
  std::map<int, int> statuses_;
  std::vector<std::thread> workers_;
};

std::map<std::string, std::string> SpoolEnv(const std::string& topic, const std::string& brokers,
                                            const std::string& dir, const std::string& config) {
  auto env = Env(topic, "spool-0");
  env["SCHEDBRIDGE_KAFKA_BROKERS"] = brokers;
  env["SCHEDBRIDGE_SPOOL_DIR"] = dir;
  env["SCHEDBRIDGE_CONFIG"] = config;
  env["SCHEDBRIDGE_KAFKA_RECONNECT_BACKOFF_MAX_MS"] = "500";
  // Outside the spool directory, as in a real deployment.
  const std::string key = config + ".spool-key";
  std::ofstream(key) << "spool-key-for-the-test-0123456789\n";
  env["SCHEDBRIDGE_SPOOL_KEY_FILE"] = key;
  return env;
}

TEST(SpoolService, EverySpooledEventIsInTheTopicOnceAfterKillNineWithKafkaDownAndMidDrain) {
  const std::string topic = RandomName("spool-events");
  CreateTopic(TestBrokers(), topic, 3);
  char tmpl[] = "/tmp/schedbridge-spool-it-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string config = dir + "/config.yaml";
  {
    std::ofstream out(config);
    out << "sources:\n  - provider: calcom\n    name: no-retries\n    secret_env: "
           "SCHEDBRIDGE_SECRET_CALCOM\n    ack: spool\n";
  }
  const std::string spool_dir = dir + "/spool";
  const std::string nowhere = "127.0.0.1:" + std::to_string(UnusedPort());
  std::set<std::string> accepted;

  // 1. Kafka is down. The spool takes webhooks (and /readyz stays 200 so the
  //    Service keeps sending them); then kill -9.
  {
    ServiceProcess down(SpoolEnv(topic, nowhere, spool_dir, config));
    ASSERT_TRUE(down.WaitReady(std::chrono::seconds(20))) << down.Log();
    Load load(down.port(), 4, "down");
    std::this_thread::sleep_for(std::chrono::seconds(3));
    down.Signal(SIGKILL);
    load.Stop();
    accepted = load.accepted();
    const auto st = load.statuses();
    const int spooled = st.count(202) ? st.at(202) : 0;
    std::printf("  Kafka down: %d deliveries spooled (202, each fdatasync'ed) in 3 s = %.0f/s\n",
                spooled, spooled / 3.0);
    for (const auto& [status, n] : st) {
      EXPECT_TRUE(status == 202 || status == -1) << status << " x" << n;  // -1: after the kill
    }
    ASSERT_GT(accepted.size(), 50u);
  }

  // 2. Kafka is back: the restarted process drains the journal while new
  //    webhooks keep coming, and is killed again mid-drain.
  {
    ServiceProcess up(SpoolEnv(topic, TestBrokers(), spool_dir, config));
    ASSERT_TRUE(up.WaitReady(std::chrono::seconds(30))) << up.Log();
    const auto ready_at = std::chrono::steady_clock::now();
    Load load(up.port(), 4, "up");
    // Killed when about half the backlog is drained.
    const double half = static_cast<double>(accepted.size()) / 2;
    ASSERT_TRUE(WaitUntil(
        [&] { return Metric(up.admin_port(), "schedbridge_spool_drained_total") >= half; },
        std::chrono::seconds(60)))
        << up.Log();
    const double drained = Metric(up.admin_port(), "schedbridge_spool_drained_total");
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - ready_at).count();
    std::printf(
        "  Kafka back: %.0f records drained in %.2f s after ready = %.0f/s, while taking "
        "new webhooks\n",
        drained, seconds, drained / seconds);
    up.Signal(SIGKILL);
    load.Stop();
    const auto more = load.accepted();
    accepted.insert(more.begin(), more.end());
  }

  // 3. Restart once more: what is left is drained; what the killed process
  //    already published is recognised from the topic and skipped.
  ServiceProcess last(SpoolEnv(topic, TestBrokers(), spool_dir, config));
  ASSERT_TRUE(last.WaitReady(std::chrono::seconds(30))) << last.Log();
  const auto ready_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitUntil([&] { return Metric(last.admin_port(), "schedbridge_spool_records") == 0; },
                        std::chrono::seconds(60)))
      << last.Log();
  const double drain_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - ready_at).count();
  std::printf(
      "  restart: %.0f records drained, %.0f skipped as already published, empty %.2f s "
      "after ready\n",
      Metric(last.admin_port(), "schedbridge_spool_drained_total"),
      Metric(last.admin_port(), "schedbridge_spool_already_published_total"), drain_s);
  const auto counts = IdCounts(topic);
  size_t missing = 0, twice = 0, unexpected = 0;
  for (const auto& id : accepted) missing += counts.count(id) ? 0 : 1;
  for (const auto& [id, n] : counts) {
    twice += n > 1 ? 1 : 0;
    unexpected += accepted.count(id) ? 0 : 1;  // published, answered non-2xx (killed in flight)
  }
  std::printf(
      "  %zu ids answered 202; topic: %zu distinct, %zu more than once, %zu never answered\n",
      accepted.size(), counts.size(), twice, unexpected);
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(twice, 0u);
  EXPECT_EQ(last.Stop(SIGTERM), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bridge::testing

// `schedbridge replay` against a real broker: what now normalizes is
// published with the ids it would have had at ingest, the rest is left (or
// requeued), offsets are committed only after publishing, and a transactional
// replay killed half-way and restarted leaves exactly one copy of each event.

#include <gtest/gtest.h>
#include <signal.h>

#include <set>
#include <thread>

#include "bridge/kafka/rdkafka_publisher.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/util/json.h"
#include "kafka_helpers.h"
#include "support.h"

namespace bridge::testing {
namespace {

constexpr int kEventPartitions = 6;

class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = TestBrokers();
    dlq_ = RandomName("replay-dlq");
    events_ = RandomName("replay-events");
    CreateTopic(brokers_, dlq_, 3);
    CreateTopic(brokers_, events_, kEventPartitions);
  }

  /// A dead-letter record as an older schedbridge would have written it.
  OutgoingMessage DeadLetter(const std::string& provider, const std::string& body,
                             const std::string& reason, const std::string& received_at) {
    Headers headers;
    headers.Add("Content-Type", "application/json");
    const Delivery delivery{body, &headers, {}};
    const DeadLetterRecord r =
        MakeDeadLetter(*ProviderRegistry::BuiltIn().Find(provider), "default", delivery,
                       NormalizeFailure{reason, "old version", {}, {}}, received_at);
    return DeadLetterMessage(r, dlq_);
  }

  void Fill(std::vector<OutgoingMessage> messages) {
    KafkaSettings settings;
    settings.brokers = brokers_;
    std::string error;
    auto publisher = RdKafkaPublisher::Create(settings, error);
    ASSERT_TRUE(publisher) << error;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    ASSERT_EQ(publisher->Publish(std::move(messages), deadline, {})->Wait(deadline).status,
              PublishStatus::kAcked);
  }

  std::vector<std::string> Replay(std::vector<std::string> extra) {
    std::vector<std::string> args = {"replay", "--brokers", brokers_, "--from",
                                     dlq_,     "--to",      events_};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  std::string brokers_, dlq_, events_;
};

TEST_F(ReplayTest, PublishesWhatNowNormalizesAndLeavesTheRest) {
  const std::string received_at = "2026-03-01T12:00:00.250Z";
  const std::vector<std::pair<std::string, std::string>> fixable = {
      {"calcom", CompactFixture("calcom/BOOKING_CREATED.json")},
      {"calcom", CompactFixture("calcom/BOOKING_RESCHEDULED.json")},
      {"calendly", CompactFixture("calendly/invitee.created.json")},
      {"savvycal", CompactFixture("savvycal/event.created.json")}};
  std::vector<OutgoingMessage> records;
  std::set<std::string> expected_ids;
  for (const auto& [provider, body] : fixable) {
    records.push_back(DeadLetter(provider, body, "unknown_event_type", received_at));
    for (const auto& e : EventsOf(provider, body)) expected_ids.insert(e.event_id);
  }
  records.push_back(DeadLetter("calcom",
                               CompactFixture("calcom/BOOKING_CREATED_with_payloadTemplate.json"),
                               "custom_template", received_at));
  records.push_back(DeadLetter("orufy", "{not json", "invalid_json", received_at));
  Fill(records);
  ASSERT_EQ(expected_ids.size(), 5u);

  // --dry-run: prints the five events, publishes nothing, commits nothing.
  Command dry(Replay({"--group", "ops-1", "--dry-run"}));
  ASSERT_EQ(dry.Wait(), 0) << dry.Stderr();
  const std::string printed = dry.Stdout();
  EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), 5) << printed;
  EXPECT_NE(dry.Stderr().find("replay (dry run): read 6, would publish 4 record(s) as 5 event(s) "
                              "to " +
                              events_),
            std::string::npos)
      << dry.Stderr();
  EXPECT_NE(dry.Stderr().find("nothing was published and no offset committed"), std::string::npos);
  EXPECT_EQ(MessageCount(brokers_, events_), 0);
  EXPECT_EQ(CommittedTotal(brokers_, dlq_, "ops-1"), 0);

  Command run(Replay({"--group", "ops-1"}), {{"SCHEDBRIDGE_REPLICA_ID", "replayer-1"}});
  ASSERT_EQ(run.Wait(), 0) << run.Stderr();
  EXPECT_NE(
      run.Stderr().find("replay: read 6, published 4 record(s) as 5 event(s), still failing 2 "
                        "(custom_template: 1, invalid_json: 1), requeued 0, skipped by filter 0"),
      std::string::npos)
      << run.Stderr();
  const auto events = Consume(brokers_, events_, 5);
  ASSERT_EQ(events.size(), 5u);
  std::set<std::string> ids;
  for (const Consumed& m : events) {
    EXPECT_VALID_AGAINST("scheduling-event.v1.json", m.value);
    EXPECT_EQ(m.partition, Murmur2Partition(m.key, kEventPartitions));
    EXPECT_EQ(m.headers.at("ce_subject"), m.key);
    EXPECT_NE(m.value.find("\"received_at\":\"" + received_at + "\""), std::string::npos);
    ids.insert(m.headers.at("ce_id"));
    // Replayed events carry the replica header as live ones do.
    ASSERT_TRUE(m.headers.count("schedbridge_replica")) << m.value;
    EXPECT_EQ(m.headers.at("schedbridge_replica"), "replayer-1");
  }
  EXPECT_EQ(ids, expected_ids);  // the ids they would have had at ingest
  EXPECT_EQ(CommittedTotal(brokers_, dlq_, "ops-1"), 6);
  EXPECT_EQ(MessageCount(brokers_, dlq_), 6);  // nothing dropped from the DLQ

  // The same group again: nothing left to do.
  Command again(Replay({"--group", "ops-1"}));
  ASSERT_EQ(again.Wait(), 0);
  EXPECT_NE(again.Stderr().find("replay: read 0,"), std::string::npos) << again.Stderr();
  EXPECT_EQ(MessageCount(brokers_, events_), 5);

  // A fresh group with filters: only Calendly, the rest counted as skipped.
  Command filtered(Replay({"--group", "ops-2", "--provider", "calendly"}));
  ASSERT_EQ(filtered.Wait(), 0);
  EXPECT_NE(filtered.Stderr().find("read 6, published 1 record(s) as 1 event(s), still failing 0, "
                                   "requeued 0, skipped by filter 5"),
            std::string::npos)
      << filtered.Stderr();
  // The group is never committed past a record the filter skipped: the same
  // group without the filter still reaches every one of them.
  EXPECT_NE(filtered.Stderr().find("offsets held at the first skipped record"), std::string::npos)
      << filtered.Stderr();
  EXPECT_LT(CommittedTotal(brokers_, dlq_, "ops-2"), 6);
  Command rest(Replay({"--group", "ops-2"}));
  ASSERT_EQ(rest.Wait(), 0) << rest.Stderr();
  EXPECT_NE(rest.Stderr().find("skipped by filter 0"), std::string::npos) << rest.Stderr();
  EXPECT_EQ(CommittedTotal(brokers_, dlq_, "ops-2"), 6);
  // A filter naming nothing that exists is refused before reading anything.
  Command typo(Replay({"--group", "ops-3", "--reason", "custom_templat"}));
  EXPECT_EQ(typo.Wait(), 2);
  EXPECT_NE(typo.Stderr().find("did you mean custom_template?"), std::string::npos)
      << typo.Stderr();
  EXPECT_EQ(CommittedTotal(brokers_, dlq_, "ops-3"), 0);
  // Replaying twice yields the same ids: consumers drop the copy by event_id.
  std::set<std::string> all;
  const size_t published = static_cast<size_t>(MessageCount(brokers_, events_));
  for (const Consumed& m : Consume(brokers_, events_, published)) all.insert(m.headers.at("ce_id"));
  EXPECT_EQ(all, expected_ids);
}

TEST_F(ReplayTest, StillFailingRecordsCanBeRequeuedWithTheAttemptCount) {
  Fill({DeadLetter("calcom", "{broken", "invalid_json", "2026-03-01T12:00:00Z"),
        DeadLetter("calcom", CompactFixture("calcom/BOOKING_CREATED.json"), "unknown_event_type",
                   "2026-03-01T12:00:00Z")});
  Command run(Replay({"--group", "ops", "--reason", "invalid_json", "--requeue-failed"}));
  ASSERT_EQ(run.Wait(), 0) << run.Stderr();
  EXPECT_NE(run.Stderr().find("still failing 1 (invalid_json: 1), requeued 1, skipped by filter 1"),
            std::string::npos)
      << run.Stderr();
  EXPECT_EQ(MessageCount(brokers_, events_), 0);
  const auto dlq = Consume(brokers_, dlq_, 3);
  ASSERT_EQ(dlq.size(), 3u);
  int attempts_2 = 0;
  for (const Consumed& m : dlq) {
    EXPECT_VALID_AGAINST("dead-letter.v1.json", m.value);
    attempts_2 += m.value.find("\"attempt\":2") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(attempts_2, 1);
}

TEST_F(ReplayTest, TimeFiltersAndBadArguments) {
  Fill({DeadLetter("calcom", CompactFixture("calcom/BOOKING_CREATED.json"), "unknown_event_type",
                   "2026-03-01T12:00:00Z")});
  Command future(Replay({"--since", "2199-01-01T00:00:00Z"}));
  ASSERT_EQ(future.Wait(), 0);
  EXPECT_NE(future.Stderr().find("skipped by filter 1"), std::string::npos) << future.Stderr();
  Command bad_time(Replay({"--since", "yesterday"}));
  EXPECT_EQ(bad_time.Wait(), 2);
  // A date, RFC 3339 and epoch milliseconds are all times.
  Command date(Replay({"--since", "2199-01-01", "--dry-run"}));
  ASSERT_EQ(date.Wait(), 0) << date.Stderr();
  EXPECT_NE(date.Stderr().find("skipped by filter 1"), std::string::npos) << date.Stderr();
  Command epoch(Replay({"--until", "1000", "--dry-run"}));
  ASSERT_EQ(epoch.Wait(), 0) << epoch.Stderr();
  EXPECT_NE(epoch.Stderr().find("skipped by filter 1"), std::string::npos) << epoch.Stderr();
  // A usage error: exit 2, before anything is read or summarised.
  Command no_group(Replay({"--transactional"}));
  EXPECT_EQ(no_group.Wait(), 2);
  EXPECT_NE(no_group.Stderr().find("--transactional requires --group"), std::string::npos)
      << no_group.Stderr();
  EXPECT_EQ(no_group.Stderr().find("replay: read"), std::string::npos) << no_group.Stderr();
  Command missing_topic({"replay", "--brokers", brokers_, "--from", RandomName("no-such-topic")});
  EXPECT_EQ(missing_topic.Wait(), 1);
}

TEST_F(ReplayTest, TransactionalReplayKilledHalfWayLeavesExactlyOneCopy) {
  constexpr int kRecords = 300;
  std::vector<OutgoingMessage> records;
  std::set<std::string> expected;
  for (int i = 0; i < kRecords; ++i) {
    const std::string body =
        R"({"triggerEvent":"BOOKING_CREATED","createdAt":"2026-03-01T12:00:00Z","payload":{"uid":"replay-)" +
        std::to_string(i) + R"(","title":"t"}})";
    records.push_back(DeadLetter("calcom", body, "unknown_event_type", "2026-03-01T12:00:00Z"));
    expected.insert(EventsOf("calcom", body)[0].event_id);
  }
  Fill(records);

  {
    // 50 records/s in transactions of 20 (6 s in all): killed as soon as the
    // first transaction has committed, so the process dies mid-way.
    Command first(
        Replay({"--group", "txn", "--transactional", "--batch-size", "20", "--max-rate", "50"}));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (CommittedTotal(brokers_, dlq_, "txn") == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // into the next transaction
    first.Kill(SIGKILL);
  }
  const int64_t committed_at_kill = CommittedTotal(brokers_, dlq_, "txn");
  EXPECT_GT(committed_at_kill, 0);         // some transactions committed...
  EXPECT_LT(committed_at_kill, kRecords);  // ...and not all

  Command second(Replay({"--group", "txn", "--transactional", "--batch-size", "50"}));
  ASSERT_EQ(second.Wait(), 0) << second.Stderr();
  EXPECT_EQ(CommittedTotal(brokers_, dlq_, "txn"), kRecords);

  // read_committed (what Consume uses): each event exactly once.
  const auto events = Consume(brokers_, events_, kRecords + 1, std::chrono::seconds(10));
  std::multiset<std::string> ids;
  for (const Consumed& m : events) ids.insert(m.headers.at("ce_id"));
  EXPECT_EQ(events.size(), static_cast<size_t>(kRecords));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), expected);
  // The aborted half-transaction is still in the log, invisible to read_committed.
  EXPECT_GE(UncommittedCount(brokers_, events_), kRecords);
}

}  // namespace
}  // namespace bridge::testing

// Peak memory of draining a large spool backlog (tests/bench/spool_rss.sh).
//   schedbridge_spool_drain write <dir> <mib>   fills <dir> with sealed records
//   schedbridge_spool_drain drain <dir>         opens the spool and drains it
//                                               into a publisher that acks at once
// Run the drain under /usr/bin/time -v: its maximum resident set size is the
// figure in the README's "Durable spool". Not part of the test suite.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "bridge/pipeline/dedup.h"
#include "bridge/spool/spool.h"
#include "bridge/util/log.h"

namespace {

constexpr const char* kKey = "spool-bench-key-0123456789abcdef";
constexpr size_t kRecordValueBytes = 2000;  // a typical event's JSON

bridge::SpoolOptions Options(const std::string& dir) {
  bridge::SpoolOptions o;
  o.dir = dir;
  o.max_bytes = uint64_t{64} << 30;
  o.keys = {kKey};
  o.topics = {"events", "dlq"};
  o.dlq_topic = "dlq";
  return o;
}

bridge::SpoolRecord Record(uint64_t i) {
  bridge::SpoolRecord r;
  r.provider = "calcom";
  r.source = "default";
  r.spooled_at_ms = bridge::UnixMillisNow();
  char id[40];
  std::snprintf(id, sizeof id, "0190f5c2-7a3b-8c4d-9e5f-%012llu",
                static_cast<unsigned long long>(i));
  r.event_ids = {id};
  bridge::OutgoingMessage m;
  m.topic = "events";
  m.key = "calcom:b" + std::to_string(i);
  m.value = std::string(kRecordValueBytes, 'v');
  m.headers = {{"ce_id", id}, {"content-type", "application/json"}};
  r.messages.push_back(std::move(m));
  return r;
}

/// Acknowledges every message at once.
class AckingPublisher final : public bridge::Publisher {
 public:
  std::shared_ptr<bridge::PendingPublish> Publish(
      std::vector<bridge::OutgoingMessage> messages, std::chrono::steady_clock::time_point,
      bridge::PendingPublish::Completion on_complete) override {
    auto batch = std::make_shared<bridge::PendingPublish>(messages.size(), std::move(on_complete));
    for (size_t i = 0; i < messages.size(); ++i) batch->Report(true, "");
    return batch;
  }
  bool Ready() const override { return true; }
};

// Written with the journal directly (same seal as the spool's), one sync at
// the end: the spool's own Append syncs every record.
int Write(const std::string& dir, uint64_t mib) {
  std::string error;
  const bridge::SpoolOptions o = Options(dir);
  auto journal = bridge::Journal::Open(dir, o.segment_bytes, nullptr, error);
  if (!journal) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  uint64_t n = 0;
  while (journal->disk_bytes() < (mib << 20)) {
    const std::string body = bridge::EncodeSpoolRecord(Record(n++));
    if (journal->NeedsRoll(32 + body.size()) && !journal->Roll(error)) break;
    bridge::JournalEntry where;
    if (!journal->Append(bridge::SealSpoolRecord(kKey, journal->next_append(), body), where,
                         error)) {
      break;
    }
  }
  if (!error.empty() || ::fdatasync(journal->active_fd()) != 0) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::printf("wrote %llu records, %llu bytes\n", static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(journal->disk_bytes()));
  return 0;
}

int Drain(const std::string& dir) {
  AckingPublisher publisher;
  std::string error;
  const auto start = std::chrono::steady_clock::now();
  auto spool = bridge::Spool::Open(Options(dir), publisher, nullptr, error);
  if (!spool) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  const size_t records = spool->stats().records;
  const auto opened = std::chrono::steady_clock::now();
  spool->Start(nullptr);
  while (spool->stats().records > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto done = std::chrono::steady_clock::now();
  spool->Stop(std::chrono::milliseconds(0));
  using S = std::chrono::duration<double>;
  std::printf("drained %zu records: open %.1f s, drain %.1f s\n", records,
              S(opened - start).count(), S(done - opened).count());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bridge::log::SetLevel(bridge::log::Level::kWarn);
  const std::string mode = argc > 2 ? argv[1] : "";
  if (mode == "write" && argc == 4) return Write(argv[2], std::strtoull(argv[3], nullptr, 10));
  if (mode == "drain" && argc == 3) return Drain(argv[2]);
  std::fprintf(stderr, "usage: %s write <dir> <mib> | drain <dir>\n", argv[0]);
  return 2;
}

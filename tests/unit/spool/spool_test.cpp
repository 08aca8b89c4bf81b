#include "bridge/spool/spool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "bridge/model/dead_letter.h"
#include "bridge/replay/replay.h"
#include "legacy_seal.h"
#include "support.h"

namespace bridge {
namespace {

using testing::FakePublisher;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/schedbridge-spool-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string IdFor(int i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "0190f5c2-7a3b-8c4d-9e5f-%012d", i);
  return buf;
}

SpoolRecord Record(int i, size_t value_bytes = 64) {
  SpoolRecord r;
  r.provider = "calcom";
  r.source = "default";
  r.spooled_at_ms = 1767225600000 + i;
  r.event_ids = {IdFor(i)};
  OutgoingMessage m;
  m.topic = "events";
  m.key = "calcom:b" + std::to_string(i);
  m.value = std::string(value_bytes, 'v') + std::to_string(i);
  m.headers = {{"ce_id", IdFor(i)}, {"content-type", "application/json"}};
  r.messages.push_back(std::move(m));
  return r;
}

SpoolOptions Options(const std::string& dir) {
  SpoolOptions o;
  o.dir = dir;
  o.retry_backoff_initial = std::chrono::milliseconds(10);
  o.retry_backoff_max = std::chrono::milliseconds(40);
  o.replica_id = "test-0";
  o.keys = {"spool-key-for-tests-0123456789"};
  o.topics = {"events", "dlq"};
  o.dlq_topic = "dlq";
  return o;
}

bool WaitFor(const std::function<bool()>& done,
             std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

std::vector<std::string> Keys(const std::vector<OutgoingMessage>& messages) {
  std::vector<std::string> keys;
  for (const auto& m : messages) keys.push_back(m.key);
  return keys;
}

TEST(SpoolRecordCodec, RoundTripsEveryField) {
  SpoolRecord r = Record(7);
  r.messages.push_back(r.messages[0]);
  r.messages[1].value = std::string("\0binary\xff", 8);
  std::string error;
  SpoolRecord back;
  ASSERT_TRUE(DecodeSpoolRecord(EncodeSpoolRecord(r), back, error)) << error;
  EXPECT_EQ(back.provider, "calcom");
  EXPECT_EQ(back.source, "default");
  EXPECT_EQ(back.spooled_at_ms, r.spooled_at_ms);
  EXPECT_EQ(back.event_ids, r.event_ids);
  ASSERT_EQ(back.messages.size(), 2u);
  EXPECT_EQ(back.messages[1].value, r.messages[1].value);
  EXPECT_EQ(back.messages[0].headers, r.messages[0].headers);
}

TEST(SpoolRecordCodec, RejectsEveryTruncationAndGarbage) {
  const std::string full = EncodeSpoolRecord(Record(1));
  SpoolRecord back;
  std::string error;
  for (size_t n = 0; n < full.size(); ++n) {
    EXPECT_FALSE(DecodeSpoolRecord(full.substr(0, n), back, error)) << n;
  }
  EXPECT_FALSE(DecodeSpoolRecord(full + "x", back, error));
  EXPECT_EQ(error, "spool record: trailing bytes.");
  std::string huge_count = full.substr(0, 1 + 4 + 6 + 4 + 7 + 8) + std::string("\xff\xff\xff\x7f");
  EXPECT_FALSE(DecodeSpoolRecord(huge_count, back, error));
  EXPECT_FALSE(DecodeSpoolRecord(std::string("\x02", 1), back, error));
  EXPECT_EQ(error, "spool record: unknown version.");
}

TEST(Crc32c, MatchesTheStandardCheckValue) { EXPECT_EQ(Crc32c("123456789"), 0xE3069283u); }

TEST(Spool, DrainsInOrderAfterTheSyncAndForgetsWhatKafkaAcked) {
  TempDir dir;
  FakePublisher publisher;
  auto recent = std::make_shared<RecentIds>(1000);
  std::string error;
  auto spool = Spool::Open(Options(dir.path()), publisher, recent, error);
  ASSERT_TRUE(spool) << error;
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(spool->Append(Record(i)).status, DurableSpool::Status::kStored);
  }
  EXPECT_TRUE(spool->Holds({IdFor(3)}));
  EXPECT_EQ(spool->stats().records, 50u);
  EXPECT_GT(spool->stats().bytes, 50u * 64);
  spool->Start(nullptr);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  std::vector<std::string> expected;
  for (int i = 0; i < 50; ++i) expected.push_back("calcom:b" + std::to_string(i));
  EXPECT_EQ(Keys(publisher.Published()), expected);
  EXPECT_FALSE(spool->Holds({IdFor(3)}));
  EXPECT_TRUE(recent->FindAll({IdFor(3)}, 1767225600000).has_value());  // remembered on the ack
  EXPECT_EQ(spool->stats().drained, 50u);
  spool->Stop(std::chrono::milliseconds(0));
}

TEST(Spool, KeepsRetryingWhileKafkaFailsAndLosesNothing) {
  TempDir dir;
  FakePublisher publisher;
  publisher.mode = FakePublisher::Mode::kFail;
  std::string error;
  auto spool = Spool::Open(Options(dir.path()), publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  spool->Start(nullptr);
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(spool->Append(Record(i)).status, DurableSpool::Status::kStored);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().retries >= 3; }));
  EXPECT_EQ(spool->stats().records, 5u);
  EXPECT_TRUE(publisher.Published().empty());
  publisher.mode = FakePublisher::Mode::kAck;
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  EXPECT_EQ(
      Keys(publisher.Published()),
      (std::vector<std::string>{"calcom:b0", "calcom:b1", "calcom:b2", "calcom:b3", "calcom:b4"}));
}

TEST(Spool, DoesNotSendARecordAgainWhileAnAttemptIsOutstanding) {
  TempDir dir;
  FakePublisher publisher;
  publisher.mode = FakePublisher::Mode::kHold;  // Kafka neither acks nor fails for now
  std::string error;
  auto spool = Spool::Open(Options(dir.path()), publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  spool->Start(nullptr);
  ASSERT_EQ(spool->Append(Record(1)).status, DurableSpool::Status::kStored);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(publisher.Published().size(), 1u);
  publisher.mode = FakePublisher::Mode::kAck;
  publisher.Release(true);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  EXPECT_EQ(publisher.Published().size(), 1u);
}

TEST(Spool, IsFullAtItsLimitAndHasRoomAgainAfterDraining) {
  TempDir dir;
  FakePublisher publisher;
  publisher.mode = FakePublisher::Mode::kFail;
  SpoolOptions o = Options(dir.path());
  o.max_bytes = 4096;
  o.segment_bytes = 2048;
  std::string error;
  auto spool = Spool::Open(o, publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  int stored = 0;
  DurableSpool::AppendResult r;
  for (int i = 0; i < 100; ++i) {
    r = spool->Append(Record(i, 300));
    if (r.status != DurableSpool::Status::kStored) break;
    ++stored;
  }
  EXPECT_EQ(r.status, DurableSpool::Status::kFull);
  EXPECT_NE(r.error.find("the durable spool is full"), std::string::npos) << r.error;
  EXPECT_GT(stored, 5);
  EXPECT_LE(spool->stats().bytes, 4096u);
  EXPECT_EQ(spool->stats().full, 1u);
  EXPECT_FALSE(spool->HasRoom(400));
  // Several segments were written; draining deletes all but the newest.
  auto segments = [&] {
    int n = 0;
    for (const auto& f : fs::directory_iterator(dir.path()))
      n += f.path().extension() == ".journal";
    return n;
  };
  EXPECT_GE(segments(), 2);
  publisher.mode = FakePublisher::Mode::kAck;
  spool->Start(nullptr);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  EXPECT_EQ(publisher.Published().size(), static_cast<size_t>(stored));
  EXPECT_EQ(segments(), 1);
  EXPECT_TRUE(spool->HasRoom(400));
  EXPECT_EQ(spool->Append(Record(1000, 300)).status, DurableSpool::Status::kStored);
}

TEST(Spool, ARestartedProcessDrainsWhatTheLastOneLeftAndNothingTwice) {
  TempDir dir;
  std::string error;
  {
    FakePublisher down;
    down.mode = FakePublisher::Mode::kFail;
    auto spool = Spool::Open(Options(dir.path()), down, nullptr, error);
    ASSERT_TRUE(spool) << error;
    for (int i = 0; i < 20; ++i)
      ASSERT_EQ(spool->Append(Record(i)).status, DurableSpool::Status::kStored);
    // Half of them drained before the "crash".
    down.mode = FakePublisher::Mode::kAck;
    spool->Start(nullptr);
    ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
    spool->Stop(std::chrono::milliseconds(0));  // the drainer is gone: the next ten stay
    for (int i = 20; i < 30; ++i)
      ASSERT_EQ(spool->Append(Record(i)).status, DurableSpool::Status::kStored);
  }
  FakePublisher up;
  auto spool = Spool::Open(Options(dir.path()), up, nullptr, error);
  ASSERT_TRUE(spool) << error;
  EXPECT_EQ(spool->stats().records, 10u);  // what was not acknowledged, nothing else
  spool->Start(nullptr);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  std::vector<std::string> expected;
  for (int i = 20; i < 30; ++i) expected.push_back("calcom:b" + std::to_string(i));
  EXPECT_EQ(Keys(up.Published()), expected);
}

TEST(Spool, SkipsRecordsWhoseIdsAreAlreadyPublished) {
  TempDir dir;
  FakePublisher publisher;
  auto recent = std::make_shared<RecentIds>(100);
  std::string error;
  auto spool = Spool::Open(Options(dir.path()), publisher, recent, error);
  ASSERT_TRUE(spool) << error;
  ASSERT_EQ(spool->Append(Record(1)).status, DurableSpool::Status::kStored);
  ASSERT_EQ(spool->Append(Record(2)).status, DurableSpool::Status::kStored);
  recent->Insert({IdFor(1)}, "another-replica", UnixMillisNow());  // read back from the topic
  std::atomic<bool> may{false};
  spool->Start([&] { return may.load(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(publisher.Published().empty());  // waits for the id index
  may = true;
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  EXPECT_EQ(Keys(publisher.Published()), std::vector<std::string>{"calcom:b2"});
  EXPECT_EQ(spool->stats().already_published, 1u);
}

TEST(Spool, CutsATornTailAndKeepsEverythingBeforeIt) {
  TempDir dir;
  std::string error;
  {
    FakePublisher down;
    auto spool = Spool::Open(Options(dir.path()), down, nullptr, error);
    ASSERT_TRUE(spool) << error;
    for (int i = 0; i < 3; ++i)
      ASSERT_EQ(spool->Append(Record(i)).status, DurableSpool::Status::kStored);
  }
  // A crash inside write(): half a record at the end of the newest segment.
  const std::string segment = dir.path() + "/00000000000000000001.journal";
  const auto before = fs::file_size(segment);
  {
    std::ofstream out(segment, std::ios::app | std::ios::binary);
    out << std::string("SBJ1\x40\x00\x00\x00garbage", 15);
  }
  FakePublisher up;
  auto spool = Spool::Open(Options(dir.path()), up, nullptr, error);
  ASSERT_TRUE(spool) << error;
  EXPECT_EQ(spool->stats().records, 3u);
  EXPECT_EQ(fs::file_size(segment), before);
  ASSERT_EQ(spool->Append(Record(3)).status, DurableSpool::Status::kStored);
  spool->Start(nullptr);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  EXPECT_EQ(Keys(up.Published()),
            (std::vector<std::string>{"calcom:b0", "calcom:b1", "calcom:b2", "calcom:b3"}));
}

TEST(Spool, ConcurrentAppendsAreAllStoredOnce) {
  TempDir dir;
  FakePublisher publisher;
  std::string error;
  auto spool = Spool::Open(Options(dir.path()), publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  spool->Start(nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> stored{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        if (spool->Append(Record(t * 1000 + i)).status == DurableSpool::Status::kStored) ++stored;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(stored.load(), 400);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  const auto keys = Keys(publisher.Published());
  EXPECT_EQ(keys.size(), 400u);
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), 400u);
}

TEST(Spool, AnUnusableDirectoryIsAClearError) {
  FakePublisher publisher;
  std::string error;
  auto spool = Spool::Open(Options("/proc/schedbridge-no-such-dir"), publisher, nullptr, error);
  EXPECT_FALSE(spool);
  EXPECT_NE(error.find("cannot create the spool directory /proc/schedbridge-no-such-dir"),
            std::string::npos)
      << error;
}

}  // namespace
}  // namespace bridge

namespace bridge {
namespace {

TEST(Spool, FilesItDidNotWriteAreSetAsideNotACrash) {
  TempDir dir;
  const std::string target = dir.path() + "/victim";
  { std::ofstream(target) << "keep me"; }
  // An out-of-range segment number, a non-numeric one, and a symlink posing
  // as the newest segment.
  { std::ofstream(dir.path() + "/99999999999999999999.journal") << "x"; }
  { std::ofstream(dir.path() + "/abc.journal") << "x"; }
  fs::create_symlink(target, dir.path() + "/00000000000000000007.journal");
  FakePublisher publisher;
  std::string error;
  auto spool = Spool::Open(Options(dir.path()), publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  EXPECT_TRUE(fs::exists(dir.path() + "/99999999999999999999.journal.quarantined"));
  EXPECT_TRUE(fs::exists(dir.path() + "/abc.journal.quarantined"));
  EXPECT_TRUE(fs::exists(dir.path() + "/00000000000000000007.journal.quarantined"));
  EXPECT_EQ(spool->stats().quarantined, 3u);
  ASSERT_EQ(spool->Append(Record(1)).status, DurableSpool::Status::kStored);
  // The drained hint's temporary file, planted as a symlink, is not followed.
  fs::create_symlink(target, dir.path() + "/drained.tmp");
  spool->Start(nullptr);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  spool.reset();
  std::ifstream in(target);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "keep me");  // the symlink's target was not written through
}

size_t FilesIn(const std::string& dir) {
  if (!fs::exists(dir)) return 0;
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

// A journal record written by hand (right CRC, no seal) with a forged event:
// never published, set aside, counted.
TEST(Spool, RecordsItDidNotSealAreQuarantinedNotPublished) {
  TempDir dir;
  {
    std::string error;
    auto journal = Journal::Open(dir.path(), 1 << 20, nullptr, error);
    ASSERT_TRUE(journal) << error;
    JournalEntry where;
    ASSERT_TRUE(journal->Append(EncodeSpoolRecord(Record(1)), where, error)) << error;
    ASSERT_EQ(fdatasync(journal->active_fd()), 0);
  }
  FakePublisher publisher;
  std::string error;
  auto spool = Spool::Open(Options(dir.path()), publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  spool->Start(nullptr);
  ASSERT_EQ(spool->Append(Record(2)).status, DurableSpool::Status::kStored);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  EXPECT_EQ(Keys(publisher.Published()), std::vector<std::string>{"calcom:b2"});
  EXPECT_EQ(spool->stats().quarantined, 1u);
  EXPECT_EQ(FilesIn(dir.path() + "/quarantine"), 1u);
}

TEST(Spool, AnotherKeyCannotForgeRecordsAndTheKeyCanBeRotated) {
  TempDir dir;
  FakePublisher publisher;
  std::string error;
  SpoolOptions other = Options(dir.path());
  other.keys = {"someone-elses-key-0123456789"};
  {
    auto forger = Spool::Open(other, publisher, nullptr, error);
    ASSERT_TRUE(forger) << error;
    ASSERT_EQ(forger->Append(Record(1)).status, DurableSpool::Status::kStored);
  }
  SpoolOptions mine = Options(dir.path());
  {
    auto spool = Spool::Open(mine, publisher, nullptr, error);
    ASSERT_TRUE(spool) << error;
    EXPECT_EQ(spool->stats().quarantined, 1u);
    ASSERT_EQ(spool->Append(Record(2)).status, DurableSpool::Status::kStored);
  }
  // Rotation: a new key first, the old one still verifies what waits.
  mine.keys = {"the-next-spool-key-0123456789", mine.keys[0]};
  auto spool = Spool::Open(mine, publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  spool->Start(nullptr);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  EXPECT_EQ(Keys(publisher.Published()), std::vector<std::string>{"calcom:b2"});
  EXPECT_EQ(spool->stats().quarantined, 0u);
  mine.keys.clear();
  EXPECT_FALSE(Spool::Open(mine, publisher, nullptr, error));
  EXPECT_NE(error.find("spool_key_file"), std::string::npos) << error;
}

TEST(Spool, PublishesOnlyToTheConfiguredTopics) {
  TempDir dir;
  FakePublisher publisher;
  std::string error;
  auto spool = Spool::Open(Options(dir.path()), publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  SpoolRecord elsewhere = Record(1);
  elsewhere.messages[0].topic = "__consumer_offsets";
  ASSERT_EQ(spool->Append(elsewhere).status, DurableSpool::Status::kStored);
  ASSERT_EQ(spool->Append(Record(2)).status, DurableSpool::Status::kStored);
  spool->Start(nullptr);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  EXPECT_EQ(Keys(publisher.Published()), std::vector<std::string>{"calcom:b2"});
  EXPECT_EQ(spool->stats().quarantined, 1u);
}

TEST(Spool, ADirectoryItCreatesIsItsOwnerAlone) {
  TempDir dir;
  const std::string path = dir.path() + "/new-spool";
  FakePublisher publisher;
  std::string error;
  auto spool = Spool::Open(Options(path), publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all, fs::perms::owner_all);
  ASSERT_EQ(spool->Append(Record(1)).status, DurableSpool::Status::kStored);
  for (const auto& f : fs::directory_iterator(path)) {
    if (f.path().extension() == ".journal") {
      EXPECT_EQ(fs::status(f).permissions() & fs::perms::all,
                fs::perms::owner_read | fs::perms::owner_write)
          << f.path();
    }
  }
}

}  // namespace
}  // namespace bridge

namespace bridge {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

const std::string kFirstSegment = "/00000000000000000001.journal";

// Writes records with the journal directly, as a writer of the volume could.
void AppendRaw(const std::string& dir, const std::vector<std::string>& payloads) {
  std::string error;
  auto journal = Journal::Open(dir, 1 << 20, nullptr, error);
  ASSERT_TRUE(journal) << error;
  for (const std::string& p : payloads) {
    JournalEntry where;
    ASSERT_TRUE(journal->Append(p, where, error)) << error;
  }
  ASSERT_EQ(fdatasync(journal->active_fd()), 0);
}

TEST(SpoolVolume, ASymlinkedQuarantineDirectoryIsNotFollowed) {
  TempDir dir, outside;
  fs::create_symlink(outside.path(), dir.path() + "/quarantine");
  // The high-water mark's and drained hint's files, planted as symlinks too.
  const std::string victim = outside.path() + "/victim";
  WriteAll(victim, "keep me");
  fs::create_symlink(victim, dir.path() + "/highwater");
  fs::create_symlink(victim, dir.path() + "/highwater.tmp");
  fs::create_symlink(victim, dir.path() + "/drained");
  AppendRaw(dir.path(), {EncodeSpoolRecord(Record(1))});  // not sealed: quarantined
  FakePublisher publisher;
  std::string error;
  auto spool = Spool::Open(Options(dir.path()), publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  spool->Start(nullptr);
  ASSERT_EQ(spool->Append(Record(2)).status, DurableSpool::Status::kStored);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  spool.reset();
  EXPECT_EQ(Keys(publisher.Published()), std::vector<std::string>{"calcom:b2"});
  // Counted, logged "(not kept)", and nothing written outside the spool.
  EXPECT_EQ(FilesIn(outside.path()), 1u);
  EXPECT_EQ(ReadAll(victim), "keep me");
  EXPECT_TRUE(fs::is_symlink(dir.path() + "/quarantine"));
}

// A segment planted as a hard link to a file elsewhere in the volume is set
// aside: new records are never appended through it.
TEST(SpoolVolume, AHardLinkedSegmentIsSetAsideNotWrittenThrough) {
  TempDir dir, outside;
  const std::string victim = outside.path() + "/victim";
  WriteAll(victim, "");
  fs::create_hard_link(victim, dir.path() + kFirstSegment);
  FakePublisher publisher;
  std::string error;
  auto spool = Spool::Open(Options(dir.path()), publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  spool->Start(nullptr);
  ASSERT_EQ(spool->Append(Record(1)).status, DurableSpool::Status::kStored);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  spool.reset();
  EXPECT_EQ(Keys(publisher.Published()), std::vector<std::string>{"calcom:b1"});
  EXPECT_EQ(ReadAll(victim), "");
  EXPECT_TRUE(fs::exists(dir.path() + kFirstSegment + ".quarantined"));
}

TEST(SpoolSeal, ACopiedRecordIsRefusedAfterItsOriginalWasPublished) {
  TempDir dir;
  std::string error;
  std::string first_record;
  {
    FakePublisher publisher;
    auto spool = Spool::Open(Options(dir.path()), publisher, nullptr, error);
    ASSERT_TRUE(spool) << error;
    ASSERT_EQ(spool->Append(Record(1)).status, DurableSpool::Status::kStored);
    first_record = ReadAll(dir.path() + kFirstSegment);
    spool->Start(nullptr);
    ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
    ASSERT_EQ(publisher.Published().size(), 1u);
  }
  // Copied back after the dedup window (a fresh id index) behind the
  // original, i.e. at another offset: the seal does not match the position.
  {
    std::ofstream out(dir.path() + kFirstSegment, std::ios::app | std::ios::binary);
    out << first_record;
  }
  FakePublisher again;
  auto spool = Spool::Open(Options(dir.path()), again, std::make_shared<RecentIds>(100), error);
  ASSERT_TRUE(spool) << error;
  EXPECT_FALSE(spool->Holds({IdFor(1)}));
  spool->Start(nullptr);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  EXPECT_TRUE(again.Published().empty());
  EXPECT_EQ(spool->stats().quarantined, 1u);
  EXPECT_EQ(FilesIn(dir.path() + "/quarantine"), 1u);
}

TEST(SpoolSeal, ARecordMovedToAnotherSegmentIsRefused) {
  TempDir dir;
  std::string error;
  {
    FakePublisher down;
    auto spool = Spool::Open(Options(dir.path()), down, nullptr, error);
    ASSERT_TRUE(spool) << error;
    ASSERT_EQ(spool->Append(Record(1)).status, DurableSpool::Status::kStored);
  }
  // Same offset (0), another segment number.
  fs::rename(dir.path() + kFirstSegment, dir.path() + "/00000000000000000005.journal");
  FakePublisher publisher;
  auto spool = Spool::Open(Options(dir.path()), publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  spool->Start(nullptr);
  ASSERT_EQ(spool->Append(Record(2)).status, DurableSpool::Status::kStored);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  EXPECT_EQ(Keys(publisher.Published()), std::vector<std::string>{"calcom:b2"});
  EXPECT_EQ(spool->stats().quarantined, 1u);
}

TEST(SpoolSeal, SegmentNumbersAreNeverReusedAfterEverySegmentIsGone) {
  TempDir dir;
  std::string error;
  {
    FakePublisher publisher;
    auto spool = Spool::Open(Options(dir.path()), publisher, nullptr, error);
    ASSERT_TRUE(spool) << error;
    ASSERT_EQ(spool->Append(Record(1)).status, DurableSpool::Status::kStored);
    spool->Start(nullptr);
    ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  }
  const std::string old = ReadAll(dir.path() + kFirstSegment);
  for (const auto& f : fs::directory_iterator(dir.path())) {
    if (f.path().extension() == ".journal") fs::remove(f.path());
  }
  FakePublisher publisher;
  auto spool = Spool::Open(Options(dir.path()), publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  ASSERT_EQ(spool->Append(Record(2)).status, DurableSpool::Status::kStored);
  EXPECT_FALSE(fs::exists(dir.path() + kFirstSegment));
  EXPECT_TRUE(fs::exists(dir.path() + "/00000000000000000002.journal"));
  // The old segment's bytes written as the new segment: refused.
  spool.reset();
  WriteAll(dir.path() + "/00000000000000000002.journal", old);
  spool = Spool::Open(Options(dir.path()), publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  spool->Start(nullptr);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  EXPECT_TRUE(publisher.Published().empty());
  EXPECT_EQ(spool->stats().quarantined, 1u);
}

TEST(SpoolFreshness, ARecordOlderThanTheBoundIsDeadLetteredNotPublished) {
  TempDir dir;
  FakePublisher publisher;
  SpoolOptions o = Options(dir.path());
  o.max_age = std::chrono::hours(24);
  std::string error;
  auto spool = Spool::Open(o, publisher, std::make_shared<RecentIds>(100), error);
  ASSERT_TRUE(spool) << error;
  SpoolRecord old = Record(1);  // spooled 2026-01-01
  old.spooled_at_ms = UnixMillisNow() - 25 * 3600 * 1000;
  SpoolRecord fresh = Record(2);
  fresh.spooled_at_ms = UnixMillisNow();
  ASSERT_EQ(spool->Append(old).status, DurableSpool::Status::kStored);
  ASSERT_EQ(spool->Append(fresh).status, DurableSpool::Status::kStored);
  spool->Start(nullptr);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  const auto published = publisher.Published();
  ASSERT_EQ(published.size(), 2u);
  EXPECT_EQ(published[0].topic, "dlq");
  EXPECT_EQ(published[1].topic, "events");
  EXPECT_EQ(published[1].key, "calcom:b2");
  EXPECT_EQ(spool->stats().stale, 1u);
  // A real dead letter, with its reason, that replay publishes as spooled.
  std::string parse_error;
  auto letter = ParseDeadLetter(published[0].value, parse_error);
  ASSERT_TRUE(letter) << parse_error;
  EXPECT_EQ(letter->reason, "stale_spool_record");
  EXPECT_EQ(letter->provider, "calcom");
  EXPECT_NE(letter->detail.find("freshness bound"), std::string::npos) << letter->detail;
  ReplayOptions replay;
  replay.to = "events";
  const ReplayDecision d = DecideReplay(published[0].value, 0, replay, ProviderRegistry::BuiltIn());
  ASSERT_EQ(d.kind, ReplayDecision::Kind::kPublish) << d.detail;
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_EQ(d.messages[0].key, old.messages[0].key);
  EXPECT_EQ(d.messages[0].value, old.messages[0].value);
  EXPECT_EQ(d.messages[0].headers, old.messages[0].headers);
  EXPECT_EQ(d.messages[0].topic, "events");
}

TEST(SpoolWindow, ABacklogLargerThanTheWindowDrainsCompletelyAndInOrder) {
  TempDir dir;
  SpoolOptions o = Options(dir.path());
  o.max_in_flight = 4;
  o.segment_bytes = 2048;  // the backlog spans many segments
  std::string error;
  {
    FakePublisher down;
    auto spool = Spool::Open(o, down, nullptr, error);
    ASSERT_TRUE(spool) << error;
    for (int i = 0; i < 200; ++i)
      ASSERT_EQ(spool->Append(Record(i)).status, DurableSpool::Status::kStored);
  }
  FakePublisher publisher;
  publisher.mode = FakePublisher::Mode::kHold;
  auto spool = Spool::Open(o, publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  EXPECT_EQ(spool->stats().records, 200u);
  EXPECT_LE(spool->stats().in_memory, 4u);  // the rest stays on disk
  EXPECT_TRUE(spool->Holds({IdFor(150)}));  // and is still known as spooled
  EXPECT_GT(spool->stats().oldest_age_seconds, 0);
  spool->Start(nullptr);
  ASSERT_TRUE(WaitFor([&] { return publisher.Published().size() == 4; }));
  EXPECT_LE(spool->stats().in_memory, 4u);
  publisher.mode = FakePublisher::Mode::kAck;
  publisher.Release(true);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  std::vector<std::string> expected;
  for (int i = 0; i < 200; ++i) expected.push_back("calcom:b" + std::to_string(i));
  EXPECT_EQ(Keys(publisher.Published()), expected);
  EXPECT_FALSE(spool->Holds({IdFor(150)}));
  size_t segments = 0;
  for (const auto& f : fs::directory_iterator(dir.path()))
    segments += f.path().extension() == ".journal";
  EXPECT_EQ(segments, 1u);  // drained segments are released as the cursor passes them
}

TEST(SpoolWindow, ARestartMidDrainPublishesEverythingOnceAndInOrder) {
  TempDir dir;
  SpoolOptions o = Options(dir.path());
  o.max_in_flight = 8;
  o.segment_bytes = 4096;
  auto recent = std::make_shared<RecentIds>(1000);  // read back from the topic on restart
  std::string error;
  FakePublisher first;
  {
    FakePublisher down;
    auto spool = Spool::Open(o, down, nullptr, error);
    ASSERT_TRUE(spool) << error;
    for (int i = 0; i < 120; ++i)
      ASSERT_EQ(spool->Append(Record(i)).status, DurableSpool::Status::kStored);
  }
  {
    auto spool = Spool::Open(o, first, recent, error);
    ASSERT_TRUE(spool) << error;
    spool->Start(nullptr);
    ASSERT_TRUE(WaitFor([&] { return first.Published().size() >= 40; }));
  }  // stopped mid-drain
  FakePublisher second;
  auto spool = Spool::Open(o, second, recent, error);
  ASSERT_TRUE(spool) << error;
  EXPECT_LT(spool->stats().records, 120u);
  spool->Start(nullptr);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  std::vector<std::string> keys = Keys(first.Published());
  for (const std::string& k : Keys(second.Published())) keys.push_back(k);
  std::vector<std::string> expected;
  for (int i = 0; i < 120; ++i) expected.push_back("calcom:b" + std::to_string(i));
  EXPECT_EQ(keys, expected);
}

TEST(SpoolUpgrade, RecordsOfThePreviousFormatAreDrainedAsLegacyAndStillAgeOut) {
  TempDir dir;
  const std::string key = Options(dir.path()).keys[0];
  SpoolRecord fresh = Record(1);
  fresh.spooled_at_ms = UnixMillisNow();
  SpoolRecord old = Record(2);  // spooled 2026-01-01
  AppendRaw(dir.path(), {SealLegacySpoolRecord(key, EncodeSpoolRecord(fresh)),
                         SealLegacySpoolRecord(key, EncodeSpoolRecord(old))});
  FakePublisher publisher;
  SpoolOptions o = Options(dir.path());
  o.max_age = std::chrono::hours(24);
  std::string error;
  auto spool = Spool::Open(o, publisher, nullptr, error);
  ASSERT_TRUE(spool) << error;
  EXPECT_TRUE(spool->Holds({IdFor(1)}));
  spool->Start(nullptr);
  ASSERT_TRUE(WaitFor([&] { return spool->stats().records == 0; }));
  const auto published = publisher.Published();
  ASSERT_EQ(published.size(), 2u);
  EXPECT_EQ(published[0].key, "calcom:b1");
  EXPECT_EQ(published[1].topic, "dlq");  // older than the bound: a dead letter
  EXPECT_EQ(spool->stats().legacy, 2u);
  EXPECT_EQ(spool->stats().stale, 1u);
  EXPECT_EQ(spool->stats().quarantined, 0u);
}

}  // namespace
}  // namespace bridge

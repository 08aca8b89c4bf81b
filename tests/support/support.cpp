#include "support.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <system_error>
#include <vector>

#include "bridge/crypto/hmac.h"

namespace bridge::testing {

namespace {
// Test clients write to servers the tests kill on purpose; cpp-httplib 0.41's
// client sends without MSG_NOSIGNAL, so a write to a closed socket must be an
// error, not a SIGPIPE that ends the whole test binary.
[[maybe_unused]] const bool kSigpipeIgnored = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();
}  // namespace

std::string FixturePath(const std::string& relative) {
  return std::string(SCHEDBRIDGE_SOURCE_DIR) + "/tests/fixtures/" + relative;
}

namespace {
/// The directories TempDir made, removed when the test binary exits: a test
/// run leaves nothing behind under /tmp. Only by the process that made them:
/// a forked child that exits normally must not remove its parent's.
class MadeDirs {
 public:
  ~MadeDirs() {
    if (getpid() != owner_) return;
    std::error_code ignored;
    for (const std::string& dir : dirs_) std::filesystem::remove_all(dir, ignored);
  }
  void Add(std::string dir) {
    std::lock_guard lock(mu_);
    dirs_.push_back(std::move(dir));
  }

 private:
  const pid_t owner_ = getpid();
  std::mutex mu_;
  std::vector<std::string> dirs_;
};

MadeDirs& Made() {
  static MadeDirs made;
  return made;
}
}  // namespace

std::string TempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/schedbridge-" + prefix + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return "/tmp";
  }
  Made().Add(tmpl);
  return tmpl;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string CompactFixture(const std::string& relative) {
  rapidjson::Document doc;
  const std::string text = ReadFile(FixturePath(relative));
  doc.Parse(text.c_str(), text.size());
  if (doc.HasParseError()) throw std::runtime_error("bad fixture " + relative);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string HmacSha256Hex(const std::string& secret, const std::string& message) {
  return crypto::HexLower(crypto::Hmac(crypto::Digest::kSha256, secret, message));
}

std::string SchemaErrors(const std::string& schema_file, const std::string& json) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<rapidjson::SchemaDocument>> cache;
  rapidjson::SchemaDocument* schema = nullptr;
  {
    std::lock_guard lock(mu);
    auto& slot = cache[schema_file];
    if (!slot) {
      rapidjson::Document sd;
      const std::string text =
          ReadFile(std::string(SCHEDBRIDGE_SOURCE_DIR) + "/schemas/" + schema_file);
      sd.Parse(text.c_str(), text.size());
      if (sd.HasParseError()) return "schema " + schema_file + " is not valid JSON";
      slot = std::make_unique<rapidjson::SchemaDocument>(sd);
    }
    schema = slot.get();
  }
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  if (doc.HasParseError()) {
    return std::string("not JSON: ") + rapidjson::GetParseError_En(doc.GetParseError());
  }
  rapidjson::SchemaValidator validator(*schema);
  if (doc.Accept(validator)) return "";
  rapidjson::StringBuffer where, what;
  validator.GetInvalidSchemaPointer().StringifyUriFragment(where);
  validator.GetInvalidDocumentPointer().StringifyUriFragment(what);
  return std::string("invalid at ") + what.GetString() + " (schema " + where.GetString() +
         ", keyword " + validator.GetInvalidSchemaKeyword() + ")";
}

NormalizeResult NormalizeWith(const std::string& provider, const std::string& body,
                              const std::string& content_type, const std::string& source) {
  const Provider* p = ProviderRegistry::BuiltIn().Find(provider);
  if (p == nullptr) throw std::runtime_error("no provider " + provider);
  Headers h;
  h.Add("Content-Type", content_type);
  return p->Normalize(Delivery{body, &h, {}}, NormalizeContext{source, "2026-01-02T03:04:05Z"});
}

std::vector<CanonicalEvent> EventsOf(const std::string& provider, const std::string& body,
                                     const std::string& source) {
  NormalizeResult r = NormalizeWith(provider, body, "application/json", source);
  if (auto* f = std::get_if<NormalizeFailure>(&r)) {
    ADD_FAILURE() << "dead-lettered: " << f->reason << ": " << f->detail;
    return {};
  }
  auto events = std::get<std::vector<CanonicalEvent>>(r);
  for (const auto& e : events) EXPECT_VALID_AGAINST("scheduling-event.v1.json", ToJson(e));
  return events;
}

NormalizeFailure FailureOf(const std::string& provider, const std::string& body) {
  NormalizeResult r = NormalizeWith(provider, body);
  if (auto* f = std::get_if<NormalizeFailure>(&r)) return *f;
  ADD_FAILURE() << "expected a dead letter for: " << body.substr(0, 200);
  return {};
}

int32_t Murmur2Partition(const std::string& key, int32_t partitions) {
  // Kafka's Utils.murmur2 (seed 0x9747b28c), as used by the Java DefaultPartitioner.
  const auto* data = reinterpret_cast<const uint8_t*>(key.data());
  const int32_t length = static_cast<int32_t>(key.size());
  const uint32_t seed = 0x9747b28c;
  const uint32_t m = 0x5bd1e995;
  const int r = 24;
  uint32_t h = seed ^ static_cast<uint32_t>(length);
  const int32_t length4 = length / 4;
  for (int32_t i = 0; i < length4; i++) {
    const int32_t i4 = i * 4;
    uint32_t k = static_cast<uint32_t>(data[i4 + 0]) | (static_cast<uint32_t>(data[i4 + 1]) << 8) |
                 (static_cast<uint32_t>(data[i4 + 2]) << 16) |
                 (static_cast<uint32_t>(data[i4 + 3]) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  switch (length % 4) {
    case 3:
      h ^= static_cast<uint32_t>(data[(length & ~3) + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(data[(length & ~3) + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= static_cast<uint32_t>(data[length & ~3]);
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<int32_t>((h & 0x7fffffff) % static_cast<uint32_t>(partitions));
}

std::shared_ptr<PendingPublish> FakePublisher::Publish(std::vector<OutgoingMessage> messages,
                                                       std::chrono::steady_clock::time_point,
                                                       PendingPublish::Completion on_complete) {
  auto batch = std::make_shared<PendingPublish>(messages.size(), std::move(on_complete));
  std::unique_lock lock(mu_);
  switch (mode.load()) {
    case Mode::kAck: {
      const size_t n = messages.size();
      for (auto& m : messages) published_.push_back(std::move(m));
      lock.unlock();
      for (size_t i = 0; i < n; ++i) batch->Report(true, "");
      break;
    }
    case Mode::kFail:
      lock.unlock();
      batch->Abandon(messages.size(), "broker said no");
      break;
    case Mode::kTooLarge:  // as librdkafka refuses a message over its message.max.bytes
      lock.unlock();
      batch->Abandon(messages.size(), "Broker: Message size too large", /*too_large=*/true);
      break;
    case Mode::kHold:
      for (auto& m : messages) published_.push_back(std::move(m));
      for (size_t i = 0; i < messages.size(); ++i) held_.push_back(batch);
      break;
  }
  return batch;
}

void FakePublisher::Release(bool ok) {
  std::vector<std::shared_ptr<PendingPublish>> held;
  {
    std::lock_guard lock(mu_);
    held.swap(held_);
  }
  for (auto& b : held) b->Report(ok, ok ? "" : "released as failed");
}

std::vector<OutgoingMessage> FakePublisher::Published() const {
  std::lock_guard lock(mu_);
  return published_;
}

}  // namespace bridge::testing

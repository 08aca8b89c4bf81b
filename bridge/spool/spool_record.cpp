// The spool's record format: the versioned binary payload, its seal, and
// the dead letter for a record too old to publish.

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstring>

#include "bridge/crypto/hmac.h"
#include "bridge/model/dead_letter.h"
#include "bridge/model/time.h"
#include "bridge/spool/spool.h"
#include "bridge/version.h"

namespace bridge {
namespace {

constexpr uint8_t kRecordVersion = 1;
constexpr size_t kTagBytes = kSpoolSealBytes;
constexpr std::string_view kSealContext = "schedbridge-spool-record/2";

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

/// Reads the encoding above; every read is bounds-checked.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U8(uint8_t& v) {
    if (in_.size() < 1) return false;
    v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool U32(uint32_t& v) {
    if (in_.size() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(4);
    return true;
  }
  bool U64(uint64_t& v) {
    if (in_.size() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(8);
    return true;
  }
  bool String(std::string& s) {
    uint32_t n = 0;
    if (!U32(n) || in_.size() < n) return false;
    s.assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  /// A count of items, each at least `min_item_bytes` long: bounded by what is left.
  bool Count(uint32_t& n, size_t min_item_bytes) {
    return U32(n) && static_cast<uint64_t>(n) * min_item_bytes <= in_.size();
  }
  bool empty() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

std::string EncodeSpoolRecord(const SpoolRecord& r) {
  std::string out;
  size_t estimate = 64 + r.provider.size() + r.source.size();
  for (const auto& m : r.messages) estimate += m.topic.size() + m.key.size() + m.value.size() + 256;
  out.reserve(estimate);
  out.push_back(static_cast<char>(kRecordVersion));
  PutString(out, r.provider);
  PutString(out, r.source);
  PutU64(out, static_cast<uint64_t>(r.spooled_at_ms));
  PutU32(out, static_cast<uint32_t>(r.event_ids.size()));
  for (const auto& id : r.event_ids) PutString(out, id);
  PutU32(out, static_cast<uint32_t>(r.messages.size()));
  for (const auto& m : r.messages) {
    PutString(out, m.topic);
    PutString(out, m.key);
    PutString(out, m.value);
    PutU32(out, static_cast<uint32_t>(m.headers.size()));
    for (const auto& [k, v] : m.headers) {
      PutString(out, k);
      PutString(out, v);
    }
  }
  return out;
}

bool DecodeSpoolRecord(std::string_view payload, SpoolRecord& r, std::string& error) {
  Reader in(payload);
  uint8_t version = 0;
  uint64_t spooled_at = 0;
  uint32_t n = 0;
  r = SpoolRecord();
  auto fail = [&](const char* what) {
    error = std::string("spool record: ") + what + ".";
    return false;
  };
  if (!in.U8(version)) return fail("empty");
  if (version != kRecordVersion) return fail("unknown version");
  if (!in.String(r.provider) || !in.String(r.source) || !in.U64(spooled_at)) {
    return fail("truncated header");
  }
  r.spooled_at_ms = static_cast<int64_t>(spooled_at);
  if (!in.Count(n, 4)) return fail("bad id count");
  r.event_ids.resize(n);
  for (auto& id : r.event_ids) {
    if (!in.String(id)) return fail("truncated id");
  }
  if (!in.Count(n, 16)) return fail("bad message count");
  r.messages.resize(n);
  for (auto& m : r.messages) {
    uint32_t headers = 0;
    if (!in.String(m.topic) || !in.String(m.key) || !in.String(m.value) || !in.Count(headers, 8)) {
      return fail("truncated message");
    }
    m.headers.resize(headers);
    for (auto& [k, v] : m.headers) {
      if (!in.String(k) || !in.String(v)) return fail("truncated header");
    }
  }
  if (!in.empty()) return fail("trailing bytes");
  if (r.messages.empty()) return fail("no messages");
  return true;
}

namespace {

std::string PositionBytes(const JournalPosition& at) {
  std::string out;
  PutU64(out, at.segment);
  PutU64(out, at.offset);
  return out;
}

std::string PositionedTag(std::string_view key, const JournalPosition& at, std::string_view body) {
  return crypto::Hmac(crypto::Digest::kSha256, key, {kSealContext, PositionBytes(at), body});
}

}  // namespace

std::string SealSpoolRecord(std::string_view key, const JournalPosition& at,
                            std::string_view body) {
  std::string out = PositionedTag(key, at, body);
  out.append(body);
  return out;
}

std::optional<std::string_view> OpenSpoolRecord(const std::vector<std::string>& keys,
                                                const JournalPosition& at, std::string_view sealed,
                                                SealFormat* format) {
  if (format != nullptr) *format = SealFormat::kNone;
  if (sealed.size() < kTagBytes) return std::nullopt;
  const std::string_view tag = sealed.substr(0, kTagBytes), body = sealed.substr(kTagBytes);
  bool positioned = false, legacy = false;
  for (const std::string& key : keys) {
    positioned |= crypto::ConstantTimeEquals(PositionedTag(key, at, body), tag);
  }
  if (!positioned) {
    // The previous format: the body alone. Its tag cannot be a positioned
    // one (another message), so a new record is never downgraded to it.
    for (const std::string& key : keys) {
      legacy |= crypto::ConstantTimeEquals(crypto::Hmac(crypto::Digest::kSha256, key, body), tag);
    }
  }
  if (!positioned && !legacy) return std::nullopt;
  if (format != nullptr) *format = positioned ? SealFormat::kPositioned : SealFormat::kLegacy;
  return body;
}

OutgoingMessage StaleSpoolDeadLetter(const SpoolRecord& record,
                                     const std::vector<OutgoingMessage>& events,
                                     const std::string& detail, const std::string& dlq_topic) {
  // The body: the events exactly as spooled (key, value, headers), for
  // `schedbridge replay` to publish as they are.
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("spooled_events");
  w.StartArray();
  for (const OutgoingMessage& m : events) {
    w.StartObject();
    w.Key("key");
    w.String(m.key.data(), static_cast<rapidjson::SizeType>(m.key.size()));
    w.Key("value");
    w.String(m.value.data(), static_cast<rapidjson::SizeType>(m.value.size()));
    w.Key("headers");
    w.StartObject();
    for (const auto& [k, v] : m.headers) {
      w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
      w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  DeadLetterRecord r;
  r.provider = record.provider;
  r.body.assign(buffer.GetString(), buffer.GetSize());
  r.dead_letter_id = MakeDeadLetterId(r.provider, r.body);
  r.reason = std::string(reason::kStaleSpoolRecord);
  r.detail = detail;
  r.source = record.source;
  r.received_at = FormatTimestamp(FromUnixMillis(record.spooled_at_ms));
  r.headers = {{"content-type", "application/json"}};
  r.schedbridge_version = kVersion;
  OutgoingMessage m;
  m.topic = dlq_topic;
  m.key = r.Key();
  m.value = ToJson(r);
  m.headers = {{"content-type", "application/json"},
               {"schedbridge_reason", r.reason},
               {"schedbridge_provider", r.provider}};
  return m;
}

}  // namespace bridge

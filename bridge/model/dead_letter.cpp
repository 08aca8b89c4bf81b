#include "bridge/model/dead_letter.h"

#include "bridge/crypto/hmac.h"
#include "bridge/util/json.h"

namespace bridge {
namespace {

void Str(json::Writer& w, const char* key, std::string_view v) {
  w.Key(key);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

}  // namespace

std::string DeadLetterRecord::Key() const {
  return booking_uid ? *booking_uid : provider + ":" + dead_letter_id;
}

std::string MakeDeadLetterId(std::string_view provider, std::string_view body) {
  std::string input("schedbridge/dead-letter-id/v1");
  input.push_back('\0');
  input.append(provider);
  input.push_back('\0');
  input.append(crypto::Sha256(body));
  return "dl-" + crypto::HexLower(crypto::Sha256(input)).substr(0, 32);
}

std::string ToJson(const DeadLetterRecord& r) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartObject();
  Str(w, "schema", kDeadLetterSchema);
  Str(w, "dead_letter_id", r.dead_letter_id);
  Str(w, "reason", r.reason);
  Str(w, "detail", r.detail);
  Str(w, "provider", r.provider);
  Str(w, "source", r.source);
  if (r.provider_event_type) Str(w, "provider_event_type", *r.provider_event_type);
  if (r.booking_uid) Str(w, "booking_uid", *r.booking_uid);
  Str(w, "received_at", r.received_at);
  w.Key("headers");
  w.StartObject();
  for (const auto& [name, value] : r.headers) Str(w, name.c_str(), value);
  w.EndObject();
  if (json::IsValidUtf8(r.body)) {
    Str(w, "body_encoding", "utf8");
    Str(w, "body", r.body);
  } else {
    Str(w, "body_encoding", "base64");
    Str(w, "body", crypto::Base64(r.body));
  }
  w.Key("attempt");
  w.Int(r.attempt);
  Str(w, "schedbridge_version", r.schedbridge_version);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace bridge

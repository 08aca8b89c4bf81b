#include "bridge/model/dead_letter.h"

#include <algorithm>

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

std::optional<DeadLetterRecord> ParseDeadLetter(std::string_view text, std::string& error) {
  rapidjson::Document doc;
  const json::ParseResult parsed = json::Parse(text, doc);
  if (!parsed.ok) {
    error = "not JSON: " + parsed.error;
    return std::nullopt;
  }
  if (json::StringAt(&doc, "schema") != std::string(kDeadLetterSchema)) {
    error = "not a dead-letter/v1 record";
    return std::nullopt;
  }
  DeadLetterRecord r;
  auto required = [&](const char* key, std::string& out) {
    const json::Value* v = json::Get(&doc, key);
    if (v == nullptr || !v->IsString()) {
      error = std::string("dead-letter record without ") + key;
      return false;
    }
    out.assign(v->GetString(), v->GetStringLength());
    return true;
  };
  std::string encoding, body;
  if (!required("provider", r.provider) || !required("source", r.source) ||
      !required("reason", r.reason) || !required("received_at", r.received_at) ||
      !required("body", body) || !required("body_encoding", encoding)) {
    return std::nullopt;
  }
  if (encoding == "base64") {
    if (!crypto::Base64Decode(body, r.body)) {
      error = "dead-letter body is not valid base64";
      return std::nullopt;
    }
  } else if (encoding == "utf8") {
    r.body = std::move(body);
  } else {
    error = "unknown body_encoding \"" + encoding + "\"";
    return std::nullopt;
  }
  r.dead_letter_id = json::StringAt(&doc, "dead_letter_id").value_or("");
  r.detail = json::StringAt(&doc, "detail").value_or("");
  r.provider_event_type = json::StringAt(&doc, "provider_event_type");
  r.booking_uid = json::StringAt(&doc, "booking_uid");
  r.schedbridge_version = json::StringAt(&doc, "schedbridge_version").value_or("");
  if (auto attempt = json::Int(json::Get(&doc, "attempt")); attempt && *attempt > 0) {
    r.attempt = static_cast<int>(std::min<int64_t>(*attempt, 1000000));
  }
  if (const json::Value* headers = json::Get(&doc, "headers"); headers && headers->IsObject()) {
    for (const auto& m : headers->GetObject()) {
      if (m.value.IsString()) r.headers.emplace_back(m.name.GetString(), m.value.GetString());
    }
  }
  return r;
}

}  // namespace bridge

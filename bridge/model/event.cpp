#include "bridge/model/event.h"

#include "bridge/crypto/hmac.h"
#include "bridge/util/json.h"

namespace bridge {
namespace {

void Field(json::Writer& w, const char* name, const std::optional<std::string>& v) {
  if (!v) return;
  w.Key(name);
  w.String(v->data(), static_cast<rapidjson::SizeType>(v->size()));
}

void Field(json::Writer& w, const char* name, const std::string& v) {
  w.Key(name);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

void Field(json::Writer& w, const char* name, const std::optional<bool>& v) {
  if (!v) return;
  w.Key(name);
  w.Bool(*v);
}

void RawField(json::Writer& w, const char* name, const std::optional<std::string>& raw) {
  if (!raw) return;
  w.Key(name);
  w.RawValue(raw->data(), raw->size(), rapidjson::kObjectType);
}

void WritePerson(json::Writer& w, const Person& p) {
  w.StartObject();
  Field(w, "name", p.name);
  Field(w, "email", p.email);
  Field(w, "timezone", p.timezone);
  Field(w, "no_show", p.no_show);
  w.EndObject();
}

void WriteBooking(json::Writer& w, const Booking& b) {
  w.StartObject();
  Field(w, "uid", b.uid);
  Field(w, "provider_ref", b.provider_ref);
  Field(w, "status", b.status);
  Field(w, "title", b.title);
  Field(w, "start_time", b.start_time);
  Field(w, "end_time", b.end_time);
  Field(w, "timezone", b.timezone);
  if (b.event_type) {
    w.Key("event_type");
    w.StartObject();
    Field(w, "id", b.event_type->id);
    Field(w, "slug", b.event_type->slug);
    Field(w, "name", b.event_type->name);
    w.EndObject();
  }
  Field(w, "location", b.location);
  if (b.organizer) {
    w.Key("organizer");
    WritePerson(w, *b.organizer);
  }
  if (!b.attendees.empty()) {
    w.Key("attendees");
    w.StartArray();
    for (const Person& p : b.attendees) WritePerson(w, p);
    w.EndArray();
  }
  Field(w, "previous_uid", b.previous_uid);
  Field(w, "rescheduled_to_uid", b.rescheduled_to_uid);
  Field(w, "root_uid", b.root_uid);
  if (b.cancellation) {
    w.Key("cancellation");
    w.StartObject();
    Field(w, "reason", b.cancellation->reason);
    Field(w, "canceled_by", b.cancellation->canceled_by);
    Field(w, "reschedule_requested", b.cancellation->reschedule_requested);
    w.EndObject();
  }
  RawField(w, "metadata", b.metadata_json);
  RawField(w, "payment", b.payment_json);
  w.EndObject();
}

void WriteEvent(json::Writer& w, const CanonicalEvent& e) {
  w.StartObject();
  w.Key("schema");
  w.String(kEventSchema.data(), static_cast<rapidjson::SizeType>(kEventSchema.size()));
  Field(w, "event_id", e.event_id);
  Field(w, "event_type", e.event_type);
  Field(w, "provider", e.provider);
  Field(w, "provider_event_type", e.provider_event_type);
  Field(w, "source", e.source);
  Field(w, "occurred_at", e.occurred_at);
  Field(w, "received_at", e.received_at);
  Field(w, "delivery_id", e.delivery_id);
  if (e.booking) {
    w.Key("booking");
    WriteBooking(w, *e.booking);
  }
  if (e.subject) {
    w.Key("subject");
    w.StartObject();
    Field(w, "uid", e.subject->uid);
    Field(w, "type", e.subject->type);
    Field(w, "provider_ref", e.subject->provider_ref);
    RawField(w, "data", e.subject->data_json);
    w.EndObject();
  }
  RawField(w, "extensions", e.extensions_json);
  w.EndObject();
}

}  // namespace

std::string MakeEventId(std::string_view provider, std::string_view provider_event_type,
                        std::string_view event_type, std::string_view key,
                        std::string_view discriminator, std::string_view source) {
  // NUL separators: no field can run into the next.
  const std::string_view sep("\0", 1);
  constexpr std::string_view kPrefix("schedbridge/event-id/v1");
  std::string input;
  // Every part, its separator, and "source:" with the source: one allocation.
  input.reserve(kPrefix.size() + provider.size() + provider_event_type.size() + event_type.size() +
                key.size() + discriminator.size() + source.size() + 16);
  for (std::string_view part :
       {kPrefix, provider, provider_event_type, event_type, key, discriminator}) {
    input.append(part);
    input.append(sep);
  }
  if (!source.empty() && source != kDefaultSource) {
    input.append("source:");
    input.append(source);
    input.append(sep);
  }
  std::string digest = crypto::Sha256(input);
  digest.resize(16);
  digest[6] = static_cast<char>((static_cast<unsigned char>(digest[6]) & 0x0F) | 0x80);  // v8
  digest[8] = static_cast<char>((static_cast<unsigned char>(digest[8]) & 0x3F) | 0x80);  // RFC 4122
  const std::string hex = crypto::HexLower(digest);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

std::string ToJson(const CanonicalEvent& e) {
  return json::WriteString([&e](json::Writer& w) { WriteEvent(w, e); });
}

}  // namespace bridge

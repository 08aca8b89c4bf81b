#include "bridge/providers/mapping.h"

#include <algorithm>

#include "bridge/crypto/hmac.h"
#include "bridge/model/time.h"

namespace bridge::mapping {

ObjectBuilder::ObjectBuilder() { scratch_.writer().StartObject(); }

ObjectBuilder& ObjectBuilder::Add(const char* key, const Value* v) {
  if (v == nullptr) return *this;
  scratch_.writer().Key(key);
  v->Accept(scratch_.writer());
  ++count_;
  return *this;
}

ObjectBuilder& ObjectBuilder::Add(const char* key, std::string_view s) {
  scratch_.writer().Key(key);
  scratch_.writer().String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  ++count_;
  return *this;
}

ObjectBuilder& ObjectBuilder::Add(const char* key, bool b) {
  scratch_.writer().Key(key);
  scratch_.writer().Bool(b);
  ++count_;
  return *this;
}

ObjectBuilder& ObjectBuilder::Pick(const Value* from,
                                   const std::vector<std::pair<const char*, const char*>>& keys) {
  for (const auto& [out_key, in_key] : keys) Add(out_key, json::Path(from, in_key));
  return *this;
}

std::optional<std::string> ObjectBuilder::Finish() {
  scratch_.writer().EndObject();
  if (count_ == 0) return std::nullopt;
  return scratch_.Text();
}

std::optional<std::string> RawObject(const Value* v) {
  if (v == nullptr || !v->IsObject()) return std::nullopt;
  return json::Serialize(*v);
}

std::optional<std::string> Time(const Value* obj, std::string_view dotted) {
  auto raw = json::String(json::Path(obj, dotted));
  return raw ? CanonicalTimestamp(*raw) : std::nullopt;
}

std::optional<std::string> LastSegment(const std::optional<std::string>& uri) {
  if (!uri) return std::nullopt;
  std::string_view s = *uri;
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  const size_t slash = s.rfind('/');
  if (slash != std::string_view::npos) s.remove_prefix(slash + 1);
  if (s.empty()) return std::nullopt;
  return std::string(s);
}

namespace {

std::optional<std::string> FirstString(const Value* obj, std::initializer_list<const char*> paths) {
  for (const char* path : paths) {
    if (path == nullptr) continue;
    if (auto v = json::StringAt(obj, path)) return v;
  }
  return std::nullopt;
}

std::optional<std::string> StringAtOrNone(const Value* obj, const char* path) {
  return path == nullptr ? std::nullopt : json::StringAt(obj, path);
}

}  // namespace

Person ReadPerson(const Value* v, const PersonFields& f) {
  Person p;
  p.name = StringAtOrNone(v, f.name);
  p.email = StringAtOrNone(v, f.email);
  p.timezone = StringAtOrNone(v, f.timezone);
  if (f.no_show != nullptr) p.no_show = json::Bool(json::Path(v, f.no_show));
  return p;
}

size_t CountObjects(const Value* list) {
  if (list == nullptr || !list->IsArray()) return 0;
  return static_cast<size_t>(
      std::count_if(list->Begin(), list->End(), [](const Value& v) { return v.IsObject(); }));
}

std::vector<Person> ReadPeople(const Value* list, const PersonFields& fields,
                               const std::function<bool(const Value&)>& skip) {
  std::vector<Person> out;
  const size_t objects = CountObjects(list);
  if (objects == 0) return out;
  out.reserve(objects);
  for (const Value& a : list->GetArray()) {
    if (a.IsObject() && !(skip && skip(a))) out.push_back(ReadPerson(&a, fields));
  }
  return out;
}

Booking ReadBooking(const Value* obj, std::string uid, std::string provider_ref,
                    const BookingFields& f) {
  Booking b;
  b.uid = std::move(uid);
  b.provider_ref = std::move(provider_ref);
  b.title = FirstString(obj, f.title);
  if (f.start_time != nullptr) b.start_time = Time(obj, f.start_time);
  if (f.end_time != nullptr) b.end_time = Time(obj, f.end_time);
  EventTypeRef et;
  et.id = StringAtOrNone(obj, f.event_type_id);
  et.slug = StringAtOrNone(obj, f.event_type_slug);
  et.name = StringAtOrNone(obj, f.event_type_name);
  if (et.id || et.slug || et.name) b.event_type = std::move(et);
  b.location = FirstString(obj, f.location);
  return b;
}

std::optional<Cancellation> ReadCancellation(const Value* obj, const char* reason,
                                             const char* canceled_by) {
  Cancellation c;
  c.reason = StringAtOrNone(obj, reason);
  c.canceled_by = StringAtOrNone(obj, canceled_by);
  if (!c.reason && !c.canceled_by) return std::nullopt;
  return c;
}

std::optional<NormalizeFailure> ParseObject(std::string_view body, json::ScratchDocument& doc) {
  const json::ParseResult parsed = doc.Parse(body);
  if (!parsed.ok) return Fail(reason::kInvalidJson, parsed.error + ".");
  if (!doc.get().IsObject()) return Fail(reason::kNotAnObject, "the body is not a JSON object.");
  return std::nullopt;
}

void Envelope::Identify(const std::optional<std::string>& provider_time, std::string_view body) {
  if (delivery_id) {
    discriminator = "delivery:" + *delivery_id;
  } else if (provider_time) {
    discriminator = "time:" + *provider_time;
  } else {
    discriminator = "body:" + crypto::HexLower(crypto::Sha256(body));
  }
}

CanonicalEvent NewEvent(const Envelope& env, std::string event_type) {
  CanonicalEvent e;
  e.event_type = std::move(event_type);
  e.provider = env.provider;
  e.provider_event_type = env.provider_event_type;
  e.source = env.ctx->source;
  e.occurred_at = env.occurred_at;
  e.received_at = env.ctx->received_at;
  e.delivery_id = env.delivery_id;
  return e;
}

CanonicalEvent Finish(const Envelope& env, CanonicalEvent e) {
  e.event_id = MakeEventId(env.provider, env.provider_event_type, e.event_type, e.Key(),
                           env.discriminator, env.ctx->source);
  return e;
}

CanonicalEvent SubjectEvent(const Envelope& env, std::string event_type, std::string uid,
                            std::string type, std::optional<std::string> provider_ref,
                            std::optional<std::string> data_json) {
  CanonicalEvent e = NewEvent(env, std::move(event_type));
  e.subject =
      Subject{std::move(uid), std::move(type), std::move(provider_ref), std::move(data_json)};
  return Finish(env, std::move(e));
}

NormalizeFailure Fail(std::string_view reason, std::string detail,
                      std::optional<std::string> provider_event_type,
                      std::optional<std::string> booking_uid) {
  return NormalizeFailure{std::string(reason), std::move(detail), std::move(provider_event_type),
                          std::move(booking_uid)};
}

NormalizeFailure MissingId(const Envelope& env, std::string_view display_name,
                           std::string_view field) {
  return Fail(reason::kMissingBookingId,
              std::string(display_name) + " " + env.provider_event_type + " has no " +
                  std::string(field) + ".",
              env.provider_event_type);
}

}  // namespace bridge::mapping

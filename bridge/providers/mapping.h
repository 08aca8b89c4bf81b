#pragma once

// The kit every provider file maps with: tolerant readers, event construction
// with deterministic ids, and dead-letter failures. Pure functions only.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bridge/providers/provider.h"
#include "bridge/util/json.h"

namespace bridge::mapping {

using json::Value;

/// Builds a JSON object from (key, value) pairs, skipping absent values,
/// through the thread's json::ScratchWriter.
class ObjectBuilder {
 public:
  ObjectBuilder();
  ObjectBuilder& Add(const char* key, const Value* v);
  ObjectBuilder& Add(const char* key, std::string_view s);
  ObjectBuilder& Add(const char* key, bool b);
  /// A string literal is a string (without this, it would convert to bool).
  ObjectBuilder& Add(const char* key, const char* s) { return Add(key, std::string_view(s)); }
  /// Copies the listed members of `from` (output key, input key).
  ObjectBuilder& Pick(const Value* from,
                      const std::vector<std::pair<const char*, const char*>>& keys);
  /// The object, or nullopt when nothing was added.
  std::optional<std::string> Finish();

 private:
  json::ScratchWriter scratch_;
  int count_ = 0;
};

/// Compact JSON of `v` when it is an object.
std::optional<std::string> RawObject(const Value* v);

/// The canonical spelling of the timestamp at `obj.key`, if it parses.
std::optional<std::string> Time(const Value* obj, std::string_view dotted);

/// Last path segment of a URI ("…/invitees/7a9e…" → "7a9e…"), ignoring a trailing slash.
std::optional<std::string> LastSegment(const std::optional<std::string>& uri);

/// Where a provider keeps a person's fields (dotted paths; nullptr = none).
struct PersonFields {
  const char* name;
  const char* email;
  const char* timezone;
  const char* no_show = nullptr;
};
Person ReadPerson(const Value* v, const PersonFields& fields);

/// How many objects the array `list` holds (0 if it is not an array). A list
/// of people is reserved by it: a signed body's list of a few hundred
/// thousand empty objects then takes its final size once, instead of growing
/// by doubling with the old and the new storage held together at each step
/// (objects only: a long list of numbers reserves nothing).
size_t CountObjects(const Value* list);

/// Every object in the array `list`, read as a person, except those `skip` drops.
std::vector<Person> ReadPeople(const Value* list, const PersonFields& fields,
                               const std::function<bool(const Value&)>& skip = {});

/// Where a provider keeps the booking fields they all have. For lists, the
/// first path present wins; nullptr entries are skipped.
struct BookingFields {
  std::initializer_list<const char*> title;
  const char* start_time;
  const char* end_time;
  const char* event_type_id;
  const char* event_type_slug;
  const char* event_type_name;
  std::initializer_list<const char*> location;
};

/// A booking with its uid, provider reference and the common fields read.
Booking ReadBooking(const Value* obj, std::string uid, std::string provider_ref,
                    const BookingFields& fields);

/// The cancellation at (reason, canceled_by) paths, if either is present.
std::optional<Cancellation> ReadCancellation(const Value* obj, const char* reason,
                                             const char* canceled_by);

/// Parses the body (in place, into `doc`'s own copy) as a JSON object, or
/// says why it is not one.
std::optional<NormalizeFailure> ParseObject(std::string_view body, json::ScratchDocument& doc);

/// What identifies one provider delivery, shared by every event it yields.
struct Envelope {
  std::string provider;
  std::string provider_event_type;
  std::optional<std::string> delivery_id;
  std::string occurred_at;    // canonical; received_at when the provider gives none
  std::string discriminator;  // delivery id, else provider event time, else body digest
  const NormalizeContext* ctx = nullptr;

  /// Fills the discriminator from the best available identity.
  void Identify(const std::optional<std::string>& provider_time, std::string_view body);
};

/// A new event of `event_type` for this delivery (id assigned by Finish()).
CanonicalEvent NewEvent(const Envelope& env, std::string event_type);

/// Assigns the deterministic event id, once booking/subject are set.
CanonicalEvent Finish(const Envelope& env, CanonicalEvent e);

/// The events of one delivery, moved into the result (a braced
/// `std::vector<CanonicalEvent>{...}` would copy each one: an initializer
/// list's elements can only be copied out).
template <class... E>
NormalizeResult Events(E&&... events) {
  std::vector<CanonicalEvent> out;
  out.reserve(sizeof...(events));
  (out.push_back(std::forward<E>(events)), ...);
  return out;
}

/// A subject event keyed by `uid`.
CanonicalEvent SubjectEvent(const Envelope& env, std::string event_type, std::string uid,
                            std::string type, std::optional<std::string> provider_ref,
                            std::optional<std::string> data_json);

NormalizeFailure Fail(std::string_view reason, std::string detail,
                      std::optional<std::string> provider_event_type = std::nullopt,
                      std::optional<std::string> booking_uid = std::nullopt);

/// The usual "has no <field>" failure.
NormalizeFailure MissingId(const Envelope& env, std::string_view display_name,
                           std::string_view field);

}  // namespace bridge::mapping

#include "bridge/sync/reconcile.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <sstream>

#include "bridge/kafka/topic_reader.h"
#include "bridge/model/time.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/util/json.h"

namespace bridge {
namespace {

std::optional<int64_t> Millis(const std::optional<std::string>& t) {
  if (!t) return std::nullopt;
  auto at = ParseTimestamp(*t);
  if (!at) return std::nullopt;
  return UnixMillis(*at);
}

/// The event's extensions with reconciled = true and the API's change time.
std::string ReconciledExtensions(const std::optional<std::string>& extensions,
                                 const std::string& changed_at) {
  rapidjson::Document doc;
  if (!extensions || !json::Parse(*extensions, doc).ok || !doc.IsObject()) doc.SetObject();
  auto& a = doc.GetAllocator();
  for (const char* key : {"reconciled", "updated_at"}) {
    if (doc.HasMember(key)) doc.RemoveMember(key);
  }
  doc.AddMember("reconciled", true, a);
  doc.AddMember("updated_at", rapidjson::Value(changed_at.c_str(), a), a);
  return json::Serialize(doc);
}

struct MetricSpec {
  const char* name;
  const char* type;
  const char* help;
  double (*read)(const ReconcileSummary&);
};

/// The reconcile metrics, one definition (README's metrics list is checked against it).
const std::vector<MetricSpec>& ReconcileMetrics() {
  static const std::vector<MetricSpec> specs = {
      {"schedbridge_reconcile_success", "gauge",
       "1 when the last reconcile run finished without error.",
       [](const ReconcileSummary& s) { return s.outcome == SyncOutcome::kDone ? 1.0 : 0.0; }},
      {"schedbridge_reconcile_bookings", "gauge",
       "Bookings changed in the window, read from the provider's API.",
       [](const ReconcileSummary& s) { return static_cast<double>(s.api_bookings); }},
      {"schedbridge_reconcile_published_events", "gauge",
       "Events the last run published because the topic lacked them.",
       [](const ReconcileSummary& s) { return static_cast<double>(s.published); }},
      {"schedbridge_reconcile_api_requests", "gauge", "Provider API requests of the last run.",
       [](const ReconcileSummary& s) { return static_cast<double>(s.api.requests); }},
      {"schedbridge_reconcile_api_retries", "gauge",
       "Provider API requests retried (429 with Retry-After, 5xx, network errors).",
       [](const ReconcileSummary& s) { return static_cast<double>(s.api.retries); }},
      {"schedbridge_reconcile_api_rate_limited", "gauge", "429 answers in the last run.",
       [](const ReconcileSummary& s) { return static_cast<double>(s.api.rate_limited); }},
  };
  return specs;
}

}  // namespace

std::string BookingState(const std::string& event_type, const std::optional<std::string>& status) {
  if (status) {
    if (*status == "completed" || *status == "confirmed" || *status == "accepted")
      return "confirmed";
    if (*status == "cancelled") return "canceled";
    return *status;
  }
  if (event_type == "booking.created" || event_type == "booking.confirmed") return "confirmed";
  if (event_type == "booking.requested") return "pending";
  if (event_type == "booking.canceled") return "canceled";
  if (event_type == "booking.rejected") return "rejected";
  if (event_type == "booking.rescheduled") return "rescheduled";
  return {};
}

void FoldTopicRecord(const std::string& key, const std::string& value,
                     const std::set<std::string>& wanted,
                     std::map<std::string, TopicBooking>& topic) {
  if (!wanted.count(key)) return;
  rapidjson::Document doc;
  if (!json::Parse(value, doc).ok || !doc.IsObject()) return;
  TopicBooking& t = topic[key];
  if (auto id = json::StringAt(&doc, "event_id")) t.event_ids.insert(*id);
  const std::string type = json::StringAt(&doc, "event_type").value_or("");
  if (type.rfind("booking.", 0) != 0) return;
  if (std::string state = BookingState(type, json::StringAt(&doc, "booking.status"));
      !state.empty()) {
    t.state = state;
  }
  if (auto start = Millis(json::StringAt(&doc, "booking.start_time"))) t.start_ms = start;
}

std::vector<CanonicalEvent> MissingEvents(const std::map<std::string, ApiBooking>& api,
                                          const std::map<std::string, TopicBooking>& topic,
                                          ReconcileSummary& summary) {
  std::vector<CanonicalEvent> out;
  for (const auto& [uid, b] : api) {
    CanonicalEvent e = b.event;
    const std::string state = BookingState(e.event_type, e.booking->status);
    const auto start = Millis(e.booking->start_time);
    const auto t = topic.find(uid);
    if (t != topic.end() && !t->second.state.empty()) {
      const bool same_state = t->second.state == state;
      const bool same_start = !start || !t->second.start_ms || *start == *t->second.start_ms ||
                              state == "canceled" || state == "rescheduled" || state == "rejected";
      if (same_state && same_start) {
        ++summary.in_topic;
        continue;
      }
      // Kept its id but moved (SavvyCal): a reschedule the topic never heard of.
      if (same_state && !same_start) e.event_type = "booking.rescheduled";
    }
    e.provider_event_type = "reconcile";
    e.occurred_at = b.changed_at;
    e.delivery_id.reset();
    e.extensions_json = ReconciledExtensions(e.extensions_json, b.changed_at);
    e.event_id = MakeEventId(e.provider, "reconcile", e.event_type, uid,
                             b.changed_at + "|" + state + "|" + e.booking->start_time.value_or(""),
                             e.source);
    if (t != topic.end() && t->second.event_ids.count(e.event_id)) {
      ++summary.already_reconciled;
      continue;
    }
    out.push_back(std::move(e));
  }
  return out;
}

namespace {

using ApiBookings = std::map<std::string, ApiBooking>;

/// 1. The provider's view, whole, before anything is published. False with
/// the summary's error set when it cannot be read.
bool ReadApi(ProviderApi& api, const ReconcileOptions& o, ApiBookings& bookings,
             ReconcileSummary& summary, std::ostream& err) {
  BookingWindow window{o.since_ms, o.until_ms, o.horizon_ms, o.page_size};
  try {
    api.ListBookings(
        window, o.source,
        [&](ApiBooking b) {
          const std::string uid = b.event.booking->uid;
          auto it = bookings.find(uid);
          // Seen twice (changed between two pages): the latest state wins.
          if (it == bookings.end() || Millis(b.changed_at) >= Millis(it->second.changed_at)) {
            bookings[uid] = std::move(b);
          }
          if (static_cast<int64_t>(bookings.size()) > o.max_bookings) {
            throw ApiError(ApiError::Kind::kFailed,
                           "more than " + std::to_string(o.max_bookings) +
                               " bookings changed in the window (--max-bookings); run "
                               "reconcile on narrower windows.");
          }
        },
        [&](const ListProgress& p) {
          summary.api_pages = p.pages;
          if (o.progress) {
            err << "reconcile " << o.provider << "/" << o.source << ": " << p.pages << " page(s), "
                << p.bookings << " booking(s) read\n";
          }
        });
  } catch (const ApiError& e) {
    summary.error = std::string(e.what()) + " Nothing was published.";
    summary.outcome = e.kind() == ApiError::Kind::kCredentials ? SyncOutcome::kCredentialsRefused
                                                               : SyncOutcome::kFailed;
    return false;
  } catch (const std::exception& e) {
    // Whatever else the API's answers cause (memory, a normalizer's throw).
    summary.error = std::string("reading the API: ") + e.what() + " Nothing was published.";
    summary.outcome = SyncOutcome::kFailed;
    return false;
  }
  return true;
}

/// 2. What the events topic already holds for those bookings. False with
/// the summary's error set when it cannot be read.
bool ReadTopic(const KafkaSettings& kafka, const ReconcileOptions& o, const ApiBookings& bookings,
               std::map<std::string, TopicBooking>& topic, ReconcileSummary& summary) {
  if (bookings.empty()) return true;
  std::set<std::string> wanted;
  for (const auto& [uid, b] : bookings) wanted.insert(uid);
  std::string error;
  // Never below 0: negative times are Kafka's "latest"/"earliest" markers.
  const int64_t from_ms = std::max<int64_t>(0, o.since_ms - o.lookback_ms);
  auto reader = TopicReader::Create(kafka, o.events_topic, "", error, from_ms);
  if (!reader) {
    summary.error = "cannot read " + o.events_topic + ": " + error + " Nothing was published.";
    summary.outcome = SyncOutcome::kFailed;
    return false;
  }
  try {
    while (auto r = reader->Next()) {
      ++summary.topic_records;
      FoldTopicRecord(r->key, r->value, wanted, topic);
    }
  } catch (const std::exception& e) {
    summary.error =
        std::string("reading ") + o.events_topic + ": " + e.what() + " Nothing was published.";
    summary.outcome = SyncOutcome::kFailed;
    return false;
  }
  return true;
}

}  // namespace

ReconcileSummary RunReconcile(ProviderApi& api, Pipeline* pipeline, const Provider& provider,
                              const KafkaSettings& kafka, const ReconcileOptions& o,
                              std::ostream& out, std::ostream& err) {
  ReconcileSummary summary;
  summary.provider = o.provider;
  summary.source = o.source;
  summary.dry_run = o.dry_run;
  ApiBookings bookings;
  if (!ReadApi(api, o, bookings, summary, err)) return summary;
  summary.api_bookings = static_cast<int64_t>(bookings.size());
  std::map<std::string, TopicBooking> topic;
  if (!ReadTopic(kafka, o, bookings, topic, summary)) return summary;
  // 3. Publish what is missing.
  for (const CanonicalEvent& e : MissingEvents(bookings, topic, summary)) {
    out << ToJson(e) << "\n";
    if (!o.dry_run) {
      const IngestResult r = pipeline->PublishEvents(provider, o.source, {e});
      if (r.verdict != Verdict::kAccepted && r.verdict != Verdict::kDuplicate) {
        summary.error = "publishing " + e.event_id + " failed: " + r.error +
                        " The events published so far stay; run reconcile again for the rest.";
        summary.outcome = SyncOutcome::kFailed;
        break;
      }
    }
    ++summary.published;
    ++summary.published_by_type[e.event_type];
  }
  return summary;
}

std::string ReconcileSummary::Text() const {
  std::ostringstream s;
  // A failure comes first, and the summary after it says the run failed:
  // never a normal-looking summary followed by an error.
  if (!error.empty()) s << "reconcile failed: " << error << "\n";
  s << "reconcile " << provider << "/" << source << (error.empty() ? ": " : " FAILED: ")
    << api_bookings << " booking(s) changed in the window (" << api_pages << " page(s), "
    << api.requests << " request(s), " << api.retries << " retried, " << api.rate_limited
    << " rate-limited); " << in_topic << " already in the topic, " << already_reconciled
    << " reconciled before; " << (dry_run ? "would publish " : "published ") << published;
  std::string types;
  for (const auto& [type, n] : published_by_type) {
    types += (types.empty() ? "" : ", ") + std::to_string(n) + " " + type;
  }
  if (!types.empty()) s << " (" << types << ")";
  if (dry_run) s << "; dry run: nothing was published";
  return s.str();
}

std::string ReconcileMetricsText(const ReconcileSummary& summary, int64_t finished_unix_s) {
  std::ostringstream s;
  for (const MetricSpec& m : ReconcileMetrics()) {
    s << "# HELP " << m.name << " " << m.help << "\n# TYPE " << m.name << " " << m.type << "\n"
      << m.name << " " << m.read(summary) << "\n";
  }
  s << "# HELP schedbridge_reconcile_last_run_timestamp_seconds When the last reconcile run "
       "finished.\n# TYPE schedbridge_reconcile_last_run_timestamp_seconds gauge\n"
    << "schedbridge_reconcile_last_run_timestamp_seconds " << finished_unix_s << "\n";
  return s.str();
}

std::string PushMetrics(const std::string& pushgateway_url, const ReconcileSummary& summary,
                        const std::string& text) {
  std::string error;
  std::unique_ptr<HttpTransport> transport =
      MakeHttpTransport(pushgateway_url, std::chrono::seconds(10), error);
  if (!transport) return error;
  HttpRequest r;
  r.method = "PUT";
  r.target = "/metrics/job/schedbridge_reconcile/source/" +
             UrlEncode(summary.provider + "_" + summary.source);
  r.body = text;
  r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4");
  const HttpResponse answer = transport->Send(r);
  if (answer.status >= 200 && answer.status < 300) return {};
  return "the Pushgateway at " + pushgateway_url + " answered " +
         (answer.status == 0 ? answer.transport_error : "HTTP " + std::to_string(answer.status));
}

}  // namespace bridge

#pragma once

// `schedbridge reconcile`: read a provider's bookings changed in a window
// through its API, read what the events topic holds for them, and publish,
// through the same pipeline and producer, one canonical event for each
// booking state the topic lacks. Reconciled events carry
// extensions.reconciled = true and the API's change time, and deterministic
// ids: a second run publishes nothing new.
//
// A run reads the whole window from the API before it publishes anything: an
// API failure (credentials, retries used up) publishes nothing. A failure
// while publishing leaves some events out; the next run publishes exactly
// those (what is in the topic is compared, and ids repeat).

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "bridge/api/provider_api.h"
#include "bridge/kafka/rdkafka_publisher.h"
#include "bridge/providers/provider.h"
#include "bridge/sync/outcome.h"

namespace bridge {

class Pipeline;

struct ReconcileOptions {
  std::string provider;
  std::string source = "default";
  int64_t since_ms = 0;
  int64_t until_ms = 0;
  /// Providers that filter by start time only: bookings starting up to this long after `until`.
  int64_t horizon_ms = 90LL * 24 * 3600 * 1000;
  /// The events topic is read from `since` minus this, to find what an
  /// earlier webhook already announced.
  int64_t lookback_ms = 7LL * 24 * 3600 * 1000;
  /// A run reads at most this many bookings from the API (its cost bound);
  /// beyond, it stops, publishes nothing, and asks for a narrower window.
  int64_t max_bookings = 10000;
  int page_size = 100;
  bool dry_run = false;
  bool progress = false;
  std::string events_topic = "scheduling.events.v1";
};

/// What the events topic holds for one booking.
struct TopicBooking {
  std::set<std::string> event_ids;
  std::string state;  // the latest canonical state ("confirmed", "canceled", ...), or ""
  std::optional<int64_t> start_ms;
};

struct ReconcileSummary {
  std::string provider, source;
  int64_t api_pages = 0;
  int64_t api_bookings = 0;  // distinct bookings changed in the window
  int64_t topic_records = 0;
  int64_t in_topic = 0;            // already announced in their current state
  int64_t already_reconciled = 0;  // an earlier run's event is in the topic
  int64_t published = 0;           // (or, in a dry run, would be)
  std::map<std::string, int64_t> published_by_type;
  ApiStats api;
  bool dry_run = false;
  std::string error;
  SyncOutcome outcome = SyncOutcome::kDone;
  std::string Text() const;
};

/// The canonical state of a booking event ("confirmed", "pending",
/// "canceled", "rejected", "rescheduled"), or "" when the event says none.
std::string BookingState(const std::string& event_type, const std::optional<std::string>& status);

/// Folds one events-topic record (its JSON value) into `topic` when its key
/// is one of `wanted`.
void FoldTopicRecord(const std::string& key, const std::string& value,
                     const std::set<std::string>& wanted,
                     std::map<std::string, TopicBooking>& topic);

/// The pure part: for each API booking, the event to publish when the topic
/// lacks its state, marked as reconciled and with its deterministic id.
std::vector<CanonicalEvent> MissingEvents(const std::map<std::string, ApiBooking>& api,
                                          const std::map<std::string, TopicBooking>& topic,
                                          ReconcileSummary& summary);

/// The whole run. `pipeline` publishes (nullptr with dry_run). Events that
/// would be or were published are printed as JSON lines on `out`; progress
/// on `err`.
ReconcileSummary RunReconcile(ProviderApi& api, Pipeline* pipeline, const Provider& provider,
                              const KafkaSettings& kafka, const ReconcileOptions& options,
                              std::ostream& out, std::ostream& err);

/// The run's figures in the Prometheus text format (for a Pushgateway or a
/// node-exporter textfile: a CronJob has no port to scrape).
std::string ReconcileMetricsText(const ReconcileSummary& summary, int64_t finished_unix_s);

/// PUTs the metrics to a Prometheus Pushgateway under
/// job=schedbridge_reconcile, source=<provider>/<source>. "" or an error sentence.
std::string PushMetrics(const std::string& pushgateway_url, const ReconcileSummary& summary,
                        const std::string& text);

}  // namespace bridge

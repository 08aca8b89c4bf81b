#include "bridge/commands/serve_metrics.h"

namespace bridge {

void RegisterKafkaMetrics(Metrics& metrics, const RdKafkaPublisher& producer_ref) {
  const RdKafkaPublisher* producer = &producer_ref;
  metrics.Gauge("schedbridge_kafka_queue_messages",
                "Messages queued in the producer or in flight to Kafka.",
                [producer] { return static_cast<double>(producer->QueueLength()); });
  metrics.Gauge("schedbridge_kafka_inflight_requests",
                "Produce requests sent to brokers and awaiting a response.", [producer] {
                  return static_cast<double>(producer->CurrentStats().inflight_requests);
                });
  metrics.Gauge("schedbridge_kafka_ready",
                "1 when Kafka metadata is reachable and the producer healthy.",
                [producer] { return producer->Ready() ? 1.0 : 0.0; });
  metrics.CounterFunc(
      "schedbridge_kafka_errors_total",
      "Broker-facing errors: transmit errors, request timeouts and client error events.",
      [producer] {
        const auto s = producer->CurrentStats();
        return static_cast<double>(s.transmit_errors + s.request_timeouts + s.error_events);
      });
}

void DescribePeerLagHistogram(Metrics& metrics) {
  metrics.DescribeHistogram(
      "schedbridge_dedup_peer_lag_seconds",
      "Time from another replica producing an event to this replica knowing its id: the "
      "window in which a redelivery to this replica is not yet recognised as a duplicate.",
      {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
}

void RegisterDedupMetrics(Metrics& metrics, const Pipeline& pipeline, const IdFollower* follower) {
  auto ids = pipeline.shared_recent_ids();
  metrics.Gauge("schedbridge_dedup_ids", "Event ids known for duplicate suppression.",
                [ids] { return static_cast<double>(ids->size()); });
  metrics.CounterFunc("schedbridge_dedup_evicted_total",
                      "Ids forgotten for capacity while still inside the dedup window "
                      "(raise SCHEDBRIDGE_DEDUP_CAPACITY when this grows).",
                      [ids] { return static_cast<double>(ids->evicted_early()); });
  if (follower == nullptr) return;
  metrics.Gauge("schedbridge_dedup_seeded",
                "1 once the ids published within the window before start-up are read.",
                [follower] { return follower->Seeded() ? 1.0 : 0.0; });
  metrics.CounterFunc("schedbridge_dedup_ids_read_total",
                      "Event ids read back from the events topic (all replicas).",
                      [follower] { return static_cast<double>(follower->ids_read()); });
}

void RegisterSpoolMetrics(Metrics& metrics, const Spool& spool_ref) {
  const Spool* spool = &spool_ref;
  auto stat = [spool](auto field) {
    return [spool, field] { return static_cast<double>(spool->stats().*field); };
  };
  metrics.Gauge("schedbridge_spool_records",
                "Deliveries in the spool not yet acknowledged by Kafka.",
                stat(&Spool::Stats::records));
  metrics.Gauge("schedbridge_spool_bytes", "Bytes of spool journal files on disk.",
                stat(&Spool::Stats::bytes));
  metrics.Gauge("schedbridge_spool_oldest_age_seconds",
                "Age of the oldest delivery waiting in the spool (0 when empty).",
                stat(&Spool::Stats::oldest_age_seconds));
  metrics.CounterFunc("schedbridge_spool_drained_total",
                      "Spooled deliveries acknowledged by Kafka and dropped from the journal.",
                      stat(&Spool::Stats::drained));
  metrics.CounterFunc("schedbridge_spool_already_published_total",
                      "Spooled deliveries skipped while draining because their ids were "
                      "already in the events topic.",
                      stat(&Spool::Stats::already_published));
  metrics.CounterFunc("schedbridge_spool_retries_total",
                      "Drain attempts that failed and were retried after a back-off.",
                      stat(&Spool::Stats::retries));
  metrics.CounterFunc("schedbridge_spool_quarantined_total",
                      "Spool records set aside in <spool_dir>/quarantine, never published: not "
                      "sealed by the spool key, unreadable, or naming a topic not configured.",
                      stat(&Spool::Stats::quarantined));
  metrics.CounterFunc(
      "schedbridge_spool_stale_total",
      "Spooled deliveries older than the dedup window when drained: their events "
      "went to the dead-letter topic (stale_spool_record), not to the events topic.",
      stat(&Spool::Stats::stale));
  metrics.CounterFunc("schedbridge_spool_full_total",
                      "Deliveries answered 503 because the spool was full.",
                      stat(&Spool::Stats::full));
}

}  // namespace bridge

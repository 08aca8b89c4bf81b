#pragma once

// The metrics `serve` registers for the producer, the dedup index and the
// spool (the webhook and process metrics are registered where they live).

#include "bridge/kafka/id_follower.h"
#include "bridge/kafka/rdkafka_publisher.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/spool/spool.h"
#include "bridge/util/metrics.h"

namespace bridge {

void RegisterKafkaMetrics(Metrics& metrics, const RdKafkaPublisher& producer);

/// The histogram of how late this replica learns another's ids.
void DescribePeerLagHistogram(Metrics& metrics);

/// `follower` is nullptr when duplicates are not followed across replicas.
void RegisterDedupMetrics(Metrics& metrics, const Pipeline& pipeline, const IdFollower* follower);

void RegisterSpoolMetrics(Metrics& metrics, const Spool& spool);

}  // namespace bridge

#pragma once

// The Prometheus client libraries' standard process metrics (process_*), read
// from /proc at scrape time, and schedbridge_build_info{version}.

#include "bridge/util/metrics.h"

namespace bridge {

/// process_cpu_seconds_total, process_resident_memory_bytes,
/// process_virtual_memory_bytes, process_open_fds, process_max_fds,
/// process_start_time_seconds, and schedbridge_build_info{version} = 1.
void RegisterProcessMetrics(Metrics& metrics, const std::string& version);

}  // namespace bridge

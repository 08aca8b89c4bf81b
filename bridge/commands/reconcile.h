#pragma once

// `schedbridge reconcile`.

#include <ostream>
#include <string>

#include "bridge/api/api_client.h"
#include "bridge/commands/command.h"
#include "bridge/config/config.h"
#include "bridge/sync/reconcile.h"

namespace bridge {

struct ReconcileFlags {
  std::string source;  // provider, provider/name or name
  ReconcileOptions options;
  std::string pushgateway;   // Prometheus Pushgateway base URL, or ""
  std::string metrics_file;  // node-exporter textfile, or ""
  RetryPolicy retry;
};

/// Runs the use case for one source, reports its summary and metrics, and
/// maps its outcome to the exit code (0, 1 runtime, 2 usage, 78
/// configuration, including a credential the provider refuses).
int ReconcileCommand(const Config& config, ReconcileFlags flags, std::ostream& out,
                     std::ostream& err);

Command AddReconcileCommand(CLI::App& app);

}  // namespace bridge

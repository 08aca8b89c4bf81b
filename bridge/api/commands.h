#pragma once

// The provider-API commands, for main: `subscriptions list|diff|apply` and
// `reconcile`. Each returns the process exit code (0, 1 runtime, 2 usage,
// 78 configuration, including a credential the provider refuses).

#include <ostream>
#include <string>

#include "bridge/api/reconcile.h"
#include "bridge/config/config.h"

namespace bridge {

struct SubscriptionsFlags {
  std::string action;  // list, diff or apply
  std::string source;  // "" = every source; else provider, provider/name or name
  bool update_secret = false;
  RetryPolicy retry;
};

int SubscriptionsCommand(const Config& config, const SubscriptionsFlags& flags, std::ostream& out,
                         std::ostream& err);

struct ReconcileFlags {
  std::string source;  // provider, provider/name or name
  ReconcileOptions options;
  std::string pushgateway;   // Prometheus Pushgateway base URL, or ""
  std::string metrics_file;  // node-exporter textfile, or ""
  RetryPolicy retry;
};

int ReconcileCommand(const Config& config, ReconcileFlags flags, std::ostream& out,
                     std::ostream& err);

/// The sources `selector` names (every source when empty), or an error sentence.
std::vector<const SourceConfig*> SelectSources(const Config& config, const std::string& selector,
                                               std::string& error);

/// <public_url>/webhooks/<provider>[/<source>]
std::string SubscriberUrl(const std::string& public_url, const SourceConfig& source);

}  // namespace bridge

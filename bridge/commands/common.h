#pragma once

// What the commands share: exit codes, loading the configuration, the time
// and duration arguments, and the one place that builds the Kafka producer
// and the pipeline over it.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bridge/api/api_client.h"
#include "bridge/config/config.h"
#include "bridge/kafka/rdkafka_publisher.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/sync/outcome.h"
#include "bridge/util/clock.h"

namespace bridge {

// Exit codes (sysexits, as Vector): 0 done, 1 a runtime failure (a port in
// use, Kafka unreachable), 2 bad arguments, 78 a configuration error.
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConfig = 78;

/// The exit code a use case's outcome means.
int ExitCode(SyncOutcome outcome);

std::vector<std::string> ProviderNames();

/// Configuration from file, environment and flag overrides. nullopt with the
/// reason in `error`.
std::optional<Config> Configure(const std::string& config_file,
                                const std::map<std::string, std::string>& flags,
                                const std::vector<std::string>& kafka_flags, bool require_sources,
                                std::string& error, bool require_secrets = true);

/// Prints the configuration error; returns its exit code.
int ConfigFailure(const std::string& error);

/// Configuration for the provider-API commands: sources (secrets optional:
/// SavvyCal issues its own), public_url and Kafka. nullopt with the exit
/// code set.
std::optional<Config> ApiConfig(const std::string& config_file, const std::string& public_url,
                                int& exit_code, const std::string& brokers = {},
                                const std::vector<std::string>& kafka = {});

/// A --since/--until/--horizon style duration: 90d, 6h, 30m, 45s.
std::optional<int64_t> ParseDurationMs(const std::string& text);

/// How every command's --since and --until are written (one vocabulary).
inline constexpr const char* kTimeForms =
    "a date (2026-11-23), an RFC 3339 time (2026-11-23T09:00:00Z), epoch milliseconds or a "
    "duration before now (6h, 2d)";

/// A --since/--until value: a date (`end` takes the end of that day), an RFC
/// 3339 time, epoch milliseconds, or a duration before `now_ms`.
std::optional<int64_t> ParseTimeArg(const std::string& text, bool end, int64_t now_ms);

/// --deadline of the provider-API commands.
inline constexpr const char* kDeadlineHelp =
    "give up on a source's provider API after this long, retries and waits included "
    "(default 10m; each request also ends after 60s)";

/// --deadline into `retry`; false, with the usage message printed, when it
/// is not a positive duration.
bool ParseRunDeadline(const std::string& text, RetryPolicy& retry);

/// The Kafka producer and the pipeline that publishes through it, for every
/// command that publishes events (serve, reconcile). Built in two steps:
/// `serve --check-config` needs the producer alone.
class Publishing {
 public:
  /// Creates the producer; false with the reason in `error`.
  bool OpenProducer(const KafkaSettings& kafka, std::string& error);
  /// The pipeline over the producer (after OpenProducer).
  void StartPipeline(const PipelineOptions& options);

  RdKafkaPublisher* publisher() const { return publisher_.get(); }
  Pipeline* pipeline() const { return pipeline_.get(); }

 private:
  std::unique_ptr<RdKafkaPublisher> publisher_;
  SystemClock clock_;
  std::unique_ptr<Pipeline> pipeline_;
};

}  // namespace bridge

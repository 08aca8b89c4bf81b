#include "bridge/commands/common.h"

#include <iostream>

#include "bridge/providers/registry.h"
#include "bridge/replay/replay.h"
#include "bridge/util/log.h"

namespace bridge {
namespace {

ConfigInputs BaseInputs(const std::string& config_file) {
  ConfigInputs in;
  if (!config_file.empty()) in.file = config_file;
  in.env = ProcessEnvironment();
  in.known_providers = ProviderNames();
  in.check_source = [](const SourceConfig& s) {
    const Provider* p = ProviderRegistry::BuiltIn().Find(s.provider);
    return p == nullptr ? "unknown provider." : p->CheckSource(s);
  };
  return in;
}

}  // namespace

int ExitCode(SyncOutcome outcome) {
  switch (outcome) {
    case SyncOutcome::kDone:
      return 0;
    case SyncOutcome::kFailed:
      return kExitRuntime;
    case SyncOutcome::kBadSelection:
      return kExitUsage;
    case SyncOutcome::kCredentialsRefused:
    case SyncOutcome::kNotConfigured:
      return kExitConfig;
  }
  return kExitRuntime;
}

std::vector<std::string> ProviderNames() {
  std::vector<std::string> names;
  for (const auto& p : ProviderRegistry::BuiltIn().all()) names.emplace_back(p->Name());
  return names;
}

std::optional<Config> Configure(const std::string& config_file,
                                const std::map<std::string, std::string>& flags,
                                const std::vector<std::string>& kafka_flags, bool require_sources,
                                std::string& error, bool require_secrets) {
  ConfigInputs in = BaseInputs(config_file);
  in.kafka_flags = kafka_flags;
  in.flags = flags;
  in.require_sources = require_sources;
  in.require_secrets = require_secrets;
  try {
    return LoadConfig(in);
  } catch (const ConfigError& e) {
    error = e.what();
    return std::nullopt;
  }
}

int ConfigFailure(const std::string& error) {
  std::cerr << "schedbridge: configuration error: " << error << "\n";
  return kExitConfig;
}

std::optional<Config> ApiConfig(const std::string& config_file, const std::string& public_url,
                                int& exit_code, const std::string& brokers,
                                const std::vector<std::string>& kafka) {
  ConfigInputs in = BaseInputs(config_file);
  if (!public_url.empty()) in.flags["SCHEDBRIDGE_PUBLIC_URL"] = public_url;
  if (!brokers.empty()) in.flags["SCHEDBRIDGE_KAFKA_BROKERS"] = brokers;
  in.kafka_flags = kafka;
  in.require_secrets = false;
  try {
    Config config = LoadConfig(in);
    log::SetLevel(log::Level::kWarn);
    log::SetTextFormat(config.log_text);
    return config;
  } catch (const ConfigError& e) {
    exit_code = ConfigFailure(e.what());
    return std::nullopt;
  }
}

std::optional<int64_t> ParseDurationMs(const std::string& text) {
  if (text.size() < 2) return std::nullopt;
  const char unit = text.back();
  const std::string number = text.substr(0, text.size() - 1);
  // At most nine digits: std::stoll would throw past int64, and n * 86400000 overflow.
  if (number.size() > 9 || number.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const int64_t n = std::stoll(number);
  switch (unit) {
    case 'd':
      return n * 86400000;
    case 'h':
      return n * 3600000;
    case 'm':
      return n * 60000;
    case 's':
      return n * 1000;
    default:
      return std::nullopt;
  }
}

std::optional<int64_t> ParseTimeArg(const std::string& text, bool end, int64_t now_ms) {
  if (auto d = ParseDurationMs(text)) return now_ms - *d;
  return ParseReplayTime(text, end);
}

bool ParseRunDeadline(const std::string& text, RetryPolicy& retry) {
  const auto deadline_ms = ParseDurationMs(text);
  if (!deadline_ms || *deadline_ms <= 0) {
    std::cerr << "schedbridge: --deadline takes a duration: 10m, 1h, 90s.\n";
    return false;
  }
  retry.run_deadline = std::chrono::milliseconds(*deadline_ms);
  return true;
}

bool Publishing::OpenProducer(const KafkaSettings& kafka, std::string& error) {
  publisher_ = RdKafkaPublisher::Create(kafka, error);
  return publisher_ != nullptr;
}

void Publishing::StartPipeline(const PipelineOptions& options) {
  pipeline_ = std::make_unique<Pipeline>(options, *publisher_, clock_);
}

}  // namespace bridge

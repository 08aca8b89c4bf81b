// The rules across settings, checked once everything is applied, and what is
// derived from them.

#include <fstream>
#include <stdexcept>

#include "bridge/config/config.h"
#include "bridge/config/loader.h"

namespace bridge::config_internal {
namespace {

void RequireSources(const Config& c, const ConfigInputs& in) {
  if (!in.require_sources || !c.sources.empty()) return;
  std::string providers;
  for (const std::string& p : in.known_providers) providers += (providers.empty() ? "" : ", ") + p;
  throw ConfigError(
      "no sources are configured, so every webhook would be answered 404: set "
      "SCHEDBRIDGE_SECRET_<PROVIDER> or SCHEDBRIDGE_SECRET_<PROVIDER>_FILE for a provider's "
      "default source, or list sources: in the config file (providers: " +
      providers + ").");
}

void ValidateSource(SourceConfig& s, const Config& c, const ConfigInputs& in) {
  if (auto it = s.options.find("secret_env"); it != s.options.end()) {
    auto e = in.env.find(it->second);
    if (e == in.env.end()) {
      throw ConfigError("source " + s.provider + "/" + s.name + ": environment variable " +
                        it->second + " (secret_env) is not set.");
    }
    for (std::string& v : SplitEnvSecrets(e->second)) s.secrets.push_back(std::move(v));
    s.options.erase(it);
  }
  if (in.check_source) {
    if (std::string problem = in.check_source(s); !problem.empty()) {
      throw ConfigError("source " + s.provider + "/" + s.name + ": " + problem);
    }
  }
  for (const std::string& secret : s.secrets) {
    if (secret.size() < c.min_secret_bytes) {
      throw ConfigError("source " + s.provider + "/" + s.name + ": a secret is shorter than " +
                        std::to_string(c.min_secret_bytes) +
                        " bytes (SCHEDBRIDGE_MIN_SECRET_BYTES); use a longer random secret.");
    }
  }
  for (const auto& [what, url] : {std::pair{"api_url", &s.api_url}}) {
    if (!url->empty() && url->rfind("https://", 0) != 0 && url->rfind("http://", 0) != 0) {
      throw ConfigError("source " + s.provider + "/" + s.name + ": " + what +
                        " must start with https:// (or http:// for a local test server).");
    }
  }
  if (s.secrets.empty() && !s.allow_unsigned && in.require_secrets) {
    // An empty file is allowed only until `subscriptions apply` fills it (SavvyCal).
    if (!s.secret_files.empty()) {
      throw ConfigError("secret file " + s.secret_files.front() + " is empty.");
    }
    throw ConfigError("source " + s.provider + "/" + s.name +
                      " has no secret; set SCHEDBRIDGE_SECRET_" + Upper(s.provider) +
                      "[_FILE] or secret_files, or allow_unsigned: true.");
  }
}

/// The spool's keys (with a spooled source), topics and age bound.
void DeriveSpool(Config& c) {
  if (c.AnySpooledSource()) {
    if (c.spool_key_file.empty()) {
      throw ConfigError(
          "a source with ack: spool needs SCHEDBRIDGE_SPOOL_KEY_FILE: a file (outside the spool's "
          "volume) holding the key that seals spool records, e.g. `openssl rand -hex 32`.");
    }
    c.spool.keys = ReadSecretFile(c.spool_key_file);
    for (const std::string& key : c.spool.keys) {
      if (key.size() < 16) {
        throw ConfigError("SCHEDBRIDGE_SPOOL_KEY_FILE: a key is shorter than 16 bytes.");
      }
    }
  }
  c.spool.topics = {c.pipeline.events_topic, c.pipeline.dlq_topic};
  c.spool.dlq_topic = c.pipeline.dlq_topic;
  // Beyond the dedup window a spooled record's ids may be forgotten: older
  // records are dead-lettered when drained, never published a second time.
  c.spool.max_age = c.pipeline.dedup_window;
}

void ValidatePipelineAndKafka(const Config& c) {
  if (c.pipeline.max_delivery_age > c.pipeline.dedup_window) {
    throw ConfigError(
        c.Origin("max_delivery_age_seconds") + " (" +
        std::to_string(c.pipeline.max_delivery_age.count() / 1000) + ") must not exceed " +
        c.Origin("dedup_window_seconds") + " (" +
        std::to_string(c.pipeline.dedup_window.count() / 1000) +
        "): a delivery older than the window but younger than the bound could be published "
        "twice.");
  }
  if (c.pipeline.events_topic.empty() || c.pipeline.dlq_topic.empty()) {
    throw ConfigError("topic names must not be empty.");
  }
  if (c.kafka.brokers.empty()) throw ConfigError(c.Origin("kafka.brokers") + " must not be empty.");
}

void ValidateHttp(Config& c) {
  if (!c.public_url.empty() && c.public_url.rfind("https://", 0) != 0 &&
      c.public_url.rfind("http://", 0) != 0) {
    throw ConfigError(c.Origin("public_url") +
                      " must start with https:// (e.g. https://hooks.example.com).");
  }
  while (!c.public_url.empty() && c.public_url.back() == '/') c.public_url.pop_back();
  if (c.http.port != 0 && c.http.port == c.http.admin_port) {
    throw ConfigError(c.Origin("listen") + " and " + c.Origin("admin_listen") +
                      " must use different ports (" + std::to_string(c.http.port) + ").");
  }
  if (c.http.tls_cert_file.empty() != c.http.tls_key_file.empty()) {
    throw ConfigError(
        "ingress TLS needs both SCHEDBRIDGE_TLS_CERT_FILE and SCHEDBRIDGE_TLS_KEY_FILE.");
  }
  for (const std::string* f : {&c.http.tls_cert_file, &c.http.tls_key_file}) {
    if (!f->empty() && !std::ifstream(*f)) throw ConfigError("cannot read TLS file " + *f + ".");
  }
}

}  // namespace

void Validate(Config& c, const ConfigInputs& in) {
  RequireSources(c, in);
  for (SourceConfig& s : c.sources) ValidateSource(s, c, in);
  DeriveSpool(c);
  ValidatePipelineAndKafka(c);
  ValidateHttp(c);
  try {
    (void)ProducerProperties(c.kafka);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(e.what());
  }
}

}  // namespace bridge::config_internal

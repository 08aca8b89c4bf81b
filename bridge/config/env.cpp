// The SCHEDBRIDGE_* environment: scalar settings from the table, each
// provider's default source, librdkafka passthrough; anything else is a typo.

#include <algorithm>
#include <set>

#include "bridge/config/config.h"
#include "bridge/config/loader.h"
#include "bridge/config/settings.h"

namespace bridge::config_internal {
namespace {

using Environment = std::map<std::string, std::string>;

/// SCHEDBRIDGE_SECRET_<PROVIDER> and the other variables of a provider's
/// default source.
void ApplyProviderVariables(Config& c, const Environment& env, const std::string& provider,
                            std::set<std::string>& handled) {
  const std::string up = Upper(provider);
  const std::string secret = "SCHEDBRIDGE_SECRET_" + up;
  const std::string secret_file = secret + "_FILE";
  const std::string allow = "SCHEDBRIDGE_ALLOW_UNSIGNED_" + up;
  const std::string tolerance = "SCHEDBRIDGE_TOLERANCE_SECONDS_" + up;
  const std::string ack = "SCHEDBRIDGE_ACK_" + up;
  const std::string api_url = "SCHEDBRIDGE_API_URL_" + up;
  const std::string api_key = "SCHEDBRIDGE_API_KEY_FILE_" + up;
  const std::string api_http = "SCHEDBRIDGE_API_ALLOW_HTTP_" + up;
  handled.insert({secret, secret_file, allow, tolerance, ack, api_url, api_key, api_http});
  const auto s = env.find(secret), f = env.find(secret_file), a = env.find(allow),
             t = env.find(tolerance), k = env.find(ack), u = env.find(api_url),
             key = env.find(api_key), h = env.find(api_http);
  if (s == env.end() && f == env.end() && a == env.end() && t == env.end() && k == env.end() &&
      u == env.end() && key == env.end() && h == env.end()) {
    return;
  }
  SourceConfig& src = SourceFor(c, provider, "default");
  if (s != env.end() || f != env.end()) {
    // The environment replaces the file's secrets for the default source.
    src.secrets.clear();
    src.secret_files.clear();
    if (s != env.end()) src.secrets = SplitEnvSecrets(s->second);
    if (f != env.end()) {
      src.secret_files.push_back(f->second);
      for (std::string& v : ReadSecretFile(f->second, /*allow_empty=*/true)) {
        src.secrets.push_back(std::move(v));
      }
    }
  }
  if (a != env.end()) src.allow_unsigned = ParseBool(allow, a->second);
  if (t != env.end())
    src.tolerance = std::chrono::seconds(ParseInt(tolerance, t->second, 1, 86400));
  if (k != env.end()) src.ack = ParseAck(ack, k->second);
  if (u != env.end()) src.api_url = u->second;
  if (key != env.end()) src.api_key_file = key->second;
  if (h != env.end()) src.api_allow_http = ParseBool(api_http, h->second);
}

/// Any other SCHEDBRIDGE_* variable is a typo (or a provider not built in),
/// except librdkafka passthrough and the project's tool variables.
void RefuseUnknownVariables(const Environment& env, const std::set<std::string>& handled) {
  std::vector<std::string> known(handled.begin(), handled.end());
  for (const auto& [name, value] : env) {
    (void)value;
    if (name.rfind("SCHEDBRIDGE_", 0) != 0 || handled.count(name) ||
        name.rfind("SCHEDBRIDGE_KAFKA_", 0) == 0 || IsToolVariable(name)) {
      continue;
    }
    std::string message = "unknown environment variable " + name;
    if (name.rfind("SCHEDBRIDGE_API_KEY_", 0) == 0) {
      throw ConfigError(message +
                        ": a provider's API key is read from a file, never the "
                        "environment; set SCHEDBRIDGE_API_KEY_FILE_" +
                        name.substr(20) + " to its path.");
    }
    if (std::string near = DidYouMean(name, known); !near.empty()) {
      message += "; did you mean " + near + "?";
    } else {
      message += " (`schedbridge settings` lists every variable).";
    }
    throw ConfigError(message);
  }
}

/// SCHEDBRIDGE_KAFKA_<NAME>: librdkafka passthrough, NAME lowercased with _ → .
void ApplyKafkaVariables(Config& c, const Environment& env, const std::set<std::string>& handled) {
  const std::string prefix = "SCHEDBRIDGE_KAFKA_";
  for (const auto& [name, value] : env) {
    if (name.rfind(prefix, 0) != 0 || handled.count(name) || IsToolVariable(name)) continue;
    std::string prop = Lower(name.substr(prefix.size()));
    const bool from_file = prop.size() > 5 && prop.compare(prop.size() - 5, 5, "_file") == 0;
    if (from_file) prop.resize(prop.size() - 5);
    std::replace(prop.begin(), prop.end(), '_', '.');
    c.kafka.properties[prop] = from_file ? ReadValueFile(name, value) : value;
  }
}

}  // namespace

void ApplyEnvironment(Config& c, const Environment& env,
                      const std::vector<std::string>& known_providers) {
  std::set<std::string> handled;
  for (const SettingSpec& spec : Settings()) {
    if (auto it = env.find(spec.env); it != env.end()) {
      ApplySetting(c, spec, it->second, spec.env);
    }
    handled.insert(spec.env);
  }
  handled.insert("SCHEDBRIDGE_CONFIG");
  for (const std::string& provider : known_providers) {
    ApplyProviderVariables(c, env, provider, handled);
  }
  RefuseUnknownVariables(env, handled);
  ApplyKafkaVariables(c, env, handled);
}

}  // namespace bridge::config_internal

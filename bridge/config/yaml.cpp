// The config file (YAML): scalar settings from the table, `topics:`,
// `kafka:` and `sources:`.

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "bridge/config/config.h"
#include "bridge/config/loader.h"
#include "bridge/config/settings.h"

namespace bridge::config_internal {
namespace {

std::string Scalar(const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar()) throw ConfigError(where + " must be a single value.");
  return node.as<std::string>();
}

/// "config.yaml:12: sources[0].secret_file": where a key is, for errors.
std::string Where(const std::string& path, const YAML::Node& node, const std::string& key) {
  return path + ":" + std::to_string(node.Mark().line + 1) + ": " + key;
}

std::string WithSuggestion(std::string message, const std::string& typed,
                           const std::vector<std::string>& candidates) {
  if (std::string near = DidYouMean(typed, candidates); !near.empty()) {
    return message + "; did you mean " + near + "?";
  }
  return message + ".";
}

/// Refuses a secret written in the file and an unknown key of a source.
void CheckSourceKeys(const std::string& file, const YAML::Node& node, const std::string& at) {
  static const std::vector<std::string> kKeys = {
      "provider", "name",    "secret_files", "secret_env",   "allow_unsigned", "tolerance_seconds",
      "ack",      "options", "api_url",      "api_key_file", "api_allow_http"};
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string key_where = Where(file, kv.first, at + "." + key);
    if (key == "secret" || key == "secrets") {
      throw ConfigError(key_where +
                        ": secrets are not written in the config file; use secret_files "
                        "(paths) or secret_env (an environment variable name).");
    }
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      throw ConfigError(WithSuggestion(key_where + ": unknown key", key, kKeys));
    }
  }
}

/// "config.yaml:14: sources[0].ack": the position of a source key's value.
struct SourceWhere {
  const std::string& file;
  const YAML::Node& node;
  const std::string& at;
  std::string operator()(const char* key) const { return Where(file, node[key], at + "." + key); }
};

std::string SourceProvider(const YAML::Node& node, const SourceWhere& where,
                           const std::vector<std::string>& known_providers) {
  const std::string provider = Scalar(node["provider"], where("provider"));
  if (std::find(known_providers.begin(), known_providers.end(), provider) ==
      known_providers.end()) {
    std::string known;
    for (const std::string& p : known_providers) known += (known.empty() ? "" : ", ") + p;
    throw ConfigError(WithSuggestion(where("provider") + ": unknown provider \"" + provider +
                                         "\" (expected one of: " + known + ")",
                                     provider, known_providers));
  }
  return provider;
}

void LoadSourceSecrets(SourceConfig& s, const YAML::Node& node, const SourceWhere& where) {
  if (const YAML::Node files = node["secret_files"]) {
    if (!files.IsSequence()) throw ConfigError(where("secret_files") + " must be a list of paths.");
    for (const auto& f : files) {
      const std::string path = Scalar(f, where("secret_files"));
      s.secret_files.push_back(path);
      for (std::string& v : ReadSecretFile(path, /*allow_empty=*/true)) {
        s.secrets.push_back(std::move(v));
      }
    }
  }
  if (const YAML::Node env_name = node["secret_env"]) {
    s.options["secret_env"] = Scalar(env_name, where("secret_env"));
  }
}

void LoadSourceFields(SourceConfig& s, const YAML::Node& node, const SourceWhere& where) {
  LoadSourceSecrets(s, node, where);
  if (node["allow_unsigned"]) {
    s.allow_unsigned =
        ParseBool(where("allow_unsigned"), Scalar(node["allow_unsigned"], where("allow_unsigned")));
  }
  if (node["tolerance_seconds"]) {
    s.tolerance = std::chrono::seconds(
        ParseInt(where("tolerance_seconds"),
                 Scalar(node["tolerance_seconds"], where("tolerance_seconds")), 1, 86400));
  }
  if (node["ack"]) s.ack = ParseAck(where("ack"), Scalar(node["ack"], where("ack")));
  if (node["api_url"]) s.api_url = Scalar(node["api_url"], where("api_url"));
  if (node["api_key_file"]) s.api_key_file = Scalar(node["api_key_file"], where("api_key_file"));
  if (node["api_allow_http"]) {
    s.api_allow_http =
        ParseBool(where("api_allow_http"), Scalar(node["api_allow_http"], where("api_allow_http")));
  }
  if (const YAML::Node opts = node["options"]) {
    if (!opts.IsMap()) throw ConfigError(where("options") + " must be a mapping.");
    for (const auto& kv : opts) {
      s.options[kv.first.as<std::string>()] = Scalar(kv.second, where("options"));
    }
  }
}

void LoadSourceFromFile(Config& c, const std::string& file, const YAML::Node& node, size_t index,
                        const std::vector<std::string>& known_providers) {
  const std::string at = "sources[" + std::to_string(index) + "]";
  const std::string here = Where(file, node, at);
  if (!node.IsMap()) throw ConfigError(here + " must be a mapping.");
  CheckSourceKeys(file, node, at);
  const SourceWhere where{file, node, at};
  if (!node["provider"]) throw ConfigError(here + " needs a provider.");
  const std::string provider = SourceProvider(node, where, known_providers);
  const std::string name = node["name"] ? Scalar(node["name"], where("name")) : "default";
  if (!ValidToken(name)) {
    throw ConfigError(where("name") + " must be 1-64 characters of letters, digits, - _ or ..");
  }
  for (const SourceConfig& s : c.sources) {
    if (s.provider == provider && s.name == name) {
      throw ConfigError(here + ": source " + provider + "/" + name + " is defined twice.");
    }
  }
  LoadSourceFields(SourceFor(c, provider, name), node, where);
}

void LoadTopics(Config& c, const std::string& path, const YAML::Node& value) {
  if (!value.IsMap()) {
    throw ConfigError(Where(path, value, "topics") + " must be a mapping (events, dead_letter).");
  }
  for (const auto& t : value) {
    const std::string k = "topics." + t.first.as<std::string>();
    const SettingSpec* topic = FindSettingByKey(k);
    if (topic == nullptr) {
      throw ConfigError(Where(path, t.first, k) + ": unknown key (expected events, dead_letter).");
    }
    ApplySetting(c, *topic, Scalar(t.second, Where(path, t.second, k)), Where(path, t.second, k));
  }
}

void LoadKafka(Config& c, const std::string& path, const YAML::Node& value) {
  if (!value.IsMap()) {
    throw ConfigError(Where(path, value, "kafka") + " must be a mapping of librdkafka properties.");
  }
  for (const auto& p : value) {
    const std::string k = p.first.as<std::string>();
    if (k == "brokers") {
      ApplySetting(c, *FindSettingByKey("kafka.brokers"),
                   Scalar(p.second, Where(path, p.second, "kafka.brokers")),
                   Where(path, p.second, "kafka.brokers"));
    } else {
      SetKafkaProperty(c, "kafka.", k, Scalar(p.second, Where(path, p.second, "kafka." + k)));
    }
  }
}

YAML::Node ParseFile(const std::string& path, const std::optional<std::string>& contents) {
  try {
    return contents ? YAML::Load(*contents) : YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw ConfigError("cannot read the config file " + path + ".");
  } catch (const YAML::Exception& e) {
    throw ConfigError("config file " + path + " is not valid YAML: " + e.what());
  }
}

}  // namespace

void LoadFile(Config& c, const std::string& path, const std::vector<std::string>& known_providers,
              const std::optional<std::string>& contents) {
  const YAML::Node root = ParseFile(path, contents);
  if (root.IsNull()) return;
  if (!root.IsMap()) throw ConfigError("config file " + path + " must be a YAML mapping.");
  std::vector<std::string> keys;
  for (const SettingSpec& spec : Settings()) keys.emplace_back(spec.key);
  for (const char* extra : {"topics", "kafka", "sources"}) keys.emplace_back(extra);
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& value = kv.second;
    if (const SettingSpec* spec = FindSettingByKey(key);
        spec != nullptr && key.find('.') == std::string::npos) {
      ApplySetting(c, *spec, Scalar(value, Where(path, value, key)), Where(path, value, key));
    } else if (key == "topics") {
      LoadTopics(c, path, value);
    } else if (key == "kafka") {
      LoadKafka(c, path, value);
    } else if (key == "sources") {
      if (!value.IsSequence()) throw ConfigError(Where(path, value, key) + " must be a list.");
      for (size_t i = 0; i < value.size(); ++i)
        LoadSourceFromFile(c, path, value[i], i, known_providers);
    } else {
      throw ConfigError(WithSuggestion(Where(path, kv.first, key) + ": unknown key", key, keys));
    }
  }
}

}  // namespace bridge::config_internal

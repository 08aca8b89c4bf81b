#include "bridge/config/config.h"

#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "bridge/config/settings.h"

extern char** environ;

namespace bridge {
namespace {

/// An environment list of secrets: comma-separated, each trimmed. (A secret
/// that contains a comma comes from a file: one secret per line.)
std::vector<std::string> SplitEnvSecrets(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string_view t = provider_util::Trim(std::string_view(text).substr(start, comma - start));
    if (!t.empty()) out.emplace_back(t);
    start = comma + 1;
  }
  return out;
}

/// A librdkafka property that holds a secret: it comes from the environment or
/// a file, never a flag or the config file. Properties naming a file
/// (ssl.key.location, sasl.kerberos.keytab) are paths, not secrets.
bool SecretKafkaProperty(const std::string& name) {
  const std::string n = provider_util::Lower(name);
  auto ends_with = [&](std::string_view suffix) {
    return n.size() >= suffix.size() &&
           n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".location") || n == "sasl.kerberos.keytab") return false;
  return n.find("password") != std::string::npos || n.find("secret") != std::string::npos ||
         n.find("key") != std::string::npos;
}

/// The whole content of a file holding one value, without its final newline.
std::string ReadValueFile(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read " + what + " file " + path + ".");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string v = ss.str();
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
  return v;
}

/// One librdkafka property from the config file (`source` = "kafka.") or a
/// flag (`source` = "--kafka "). `NAME_file: PATH` reads the value from a file.
void SetKafkaProperty(Config& c, const std::string& source, const std::string& name,
                      const std::string& value) {
  const std::string suffix = "_file";
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    const std::string prop = name.substr(0, name.size() - suffix.size());
    c.kafka.properties[prop] = ReadValueFile("kafka." + prop, value);
    return;
  }
  if (SecretKafkaProperty(name)) {
    std::string env = "SCHEDBRIDGE_KAFKA_" + name;
    for (char& ch : env)
      ch = ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    throw ConfigError(source + name + " holds a secret and is not accepted here; use " + source +
                      name + "_file (a path), or " + env + " / " + env +
                      "_FILE in the environment.");
  }
  c.kafka.properties[name] = value;
}

int64_t ParseInt(const std::string& name, const std::string& value, int64_t min, int64_t max) {
  try {
    size_t used = 0;
    const long long v = std::stoll(value, &used);
    if (used != value.size() || v < min || v > max) throw std::out_of_range(name);
    return v;
  } catch (const std::exception&) {
    throw ConfigError(name + " must be a whole number from " + std::to_string(min) + " to " +
                      std::to_string(max) + ".");
  }
}

bool ParseBool(const std::string& name, const std::string& value) {
  const std::string v = provider_util::Lower(value);
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  throw ConfigError(name + " must be true or false.");
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

SourceConfig& SourceFor(Config& config, const std::string& provider, const std::string& name) {
  for (SourceConfig& s : config.sources) {
    if (s.provider == provider && s.name == name) return s;
  }
  SourceConfig s;
  s.provider = provider;
  s.name = name;
  config.sources.push_back(std::move(s));
  return config.sources.back();
}

}  // namespace

namespace {

std::string Scalar(const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar()) throw ConfigError(where + " must be a single value.");
  return node.as<std::string>();
}

/// This host's name (the pod name in Kubernetes), reduced to a safe token.
std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "schedbridge";
  std::string name(buf);
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.')
      ch = '-';
  }
  return name.substr(0, 64);
}

AckMode ParseAck(const std::string& where, const std::string& value) {
  if (value == "kafka") return AckMode::kKafka;
  if (value == "spool") return AckMode::kSpool;
  throw ConfigError(where + " must be kafka or spool.");
}

/// "config.yaml:12: sources[0].secret_file": where a source's key is, for errors.
std::string SourceWhere(const std::string& path, const YAML::Node& node, const std::string& key) {
  return path + ":" + std::to_string(node.Mark().line + 1) + ": " + key;
}

std::string WithSuggestion(std::string message, const std::string& typed,
                           const std::vector<std::string>& candidates) {
  if (std::string near = DidYouMean(typed, candidates); !near.empty()) {
    return message + "; did you mean " + near + "?";
  }
  return message + ".";
}

void LoadSourceFromFile(Config& c, const std::string& file, const YAML::Node& node, size_t index,
                        const std::vector<std::string>& known_providers) {
  const std::string at = "sources[" + std::to_string(index) + "]";
  const std::string here = SourceWhere(file, node, at);
  if (!node.IsMap()) throw ConfigError(here + " must be a mapping.");
  static const std::vector<std::string> kKeys = {
      "provider", "name",    "secret_files", "secret_env",   "allow_unsigned", "tolerance_seconds",
      "ack",      "options", "api_url",      "api_key_file", "api_allow_http"};
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string key_where = SourceWhere(file, kv.first, at + "." + key);
    if (key == "secret" || key == "secrets") {
      throw ConfigError(key_where +
                        ": secrets are not written in the config file; use secret_files "
                        "(paths) or secret_env (an environment variable name).");
    }
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      throw ConfigError(WithSuggestion(key_where + ": unknown key", key, kKeys));
    }
  }
  // "config.yaml:14: sources[0].ack": the position of a key's value.
  const auto where = [&](const char* key) { return SourceWhere(file, node[key], at + "." + key); };
  if (!node["provider"]) throw ConfigError(here + " needs a provider.");
  const std::string provider = Scalar(node["provider"], where("provider"));
  if (std::find(known_providers.begin(), known_providers.end(), provider) ==
      known_providers.end()) {
    std::string known;
    for (const std::string& p : known_providers) known += (known.empty() ? "" : ", ") + p;
    throw ConfigError(WithSuggestion(where("provider") + ": unknown provider \"" + provider +
                                         "\" (expected one of: " + known + ")",
                                     provider, known_providers));
  }
  const std::string name = node["name"] ? Scalar(node["name"], where("name")) : "default";
  if (!ValidToken(name)) {
    throw ConfigError(where("name") + " must be 1-64 characters of letters, digits, - _ or ..");
  }
  for (const SourceConfig& s : c.sources) {
    if (s.provider == provider && s.name == name) {
      throw ConfigError(here + ": source " + provider + "/" + name + " is defined twice.");
    }
  }
  SourceConfig& s = SourceFor(c, provider, name);
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

void LoadFile(Config& c, const std::string& path, const std::vector<std::string>& known_providers,
              const std::optional<std::string>& contents = std::nullopt) {
  YAML::Node root;
  try {
    root = contents ? YAML::Load(*contents) : YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw ConfigError("cannot read the config file " + path + ".");
  } catch (const YAML::Exception& e) {
    throw ConfigError("config file " + path + " is not valid YAML: " + e.what());
  }
  if (root.IsNull()) return;
  if (!root.IsMap()) throw ConfigError("config file " + path + " must be a YAML mapping.");
  // "config.yaml:4: ack_timeout_ms": where a value came from, for errors.
  const auto where = [&path](const YAML::Node& node, const std::string& key) {
    return path + ":" + std::to_string(node.Mark().line + 1) + ": " + key;
  };
  std::vector<std::string> keys;
  for (const SettingSpec& spec : Settings()) keys.emplace_back(spec.key);
  for (const char* extra : {"topics", "kafka", "sources"}) keys.emplace_back(extra);
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& value = kv.second;
    if (const SettingSpec* spec = FindSettingByKey(key);
        spec != nullptr && key.find('.') == std::string::npos) {
      ApplySetting(c, *spec, Scalar(value, where(value, key)), where(value, key));
    } else if (key == "topics") {
      if (!value.IsMap())
        throw ConfigError(where(value, key) + " must be a mapping (events, dead_letter).");
      for (const auto& t : value) {
        const std::string k = "topics." + t.first.as<std::string>();
        const SettingSpec* topic = FindSettingByKey(k);
        if (topic == nullptr) {
          throw ConfigError(where(t.first, k) + ": unknown key (expected events, dead_letter).");
        }
        ApplySetting(c, *topic, Scalar(t.second, where(t.second, k)), where(t.second, k));
      }
    } else if (key == "kafka") {
      if (!value.IsMap())
        throw ConfigError(where(value, key) + " must be a mapping of librdkafka properties.");
      for (const auto& p : value) {
        const std::string k = p.first.as<std::string>();
        if (k == "brokers") {
          ApplySetting(c, *FindSettingByKey("kafka.brokers"),
                       Scalar(p.second, where(p.second, "kafka.brokers")),
                       where(p.second, "kafka.brokers"));
        } else {
          SetKafkaProperty(c, "kafka.", k, Scalar(p.second, where(p.second, "kafka." + k)));
        }
      }
    } else if (key == "sources") {
      if (!value.IsSequence()) throw ConfigError(where(value, key) + " must be a list.");
      for (size_t i = 0; i < value.size(); ++i)
        LoadSourceFromFile(c, path, value[i], i, known_providers);
    } else {
      std::string message = where(kv.first, key) + ": unknown key";
      if (std::string near = DidYouMean(key, keys); !near.empty()) {
        message += "; did you mean " + near + "?";
      } else {
        message += ".";
      }
      throw ConfigError(message);
    }
  }
}

void ApplyEnvironment(Config& c, const std::map<std::string, std::string>& env,
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
      continue;
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
  // Any other SCHEDBRIDGE_* variable is a typo (or a provider not built in),
  // except librdkafka passthrough and the project's tool variables.
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
  // SCHEDBRIDGE_KAFKA_<NAME>: librdkafka passthrough, NAME lowercased with _ → .
  const std::string prefix = "SCHEDBRIDGE_KAFKA_";
  for (const auto& [name, value] : env) {
    if (name.rfind(prefix, 0) != 0 || handled.count(name) || IsToolVariable(name)) continue;
    std::string prop = provider_util::Lower(name.substr(prefix.size()));
    const bool from_file = prop.size() > 5 && prop.compare(prop.size() - 5, 5, "_file") == 0;
    if (from_file) prop.resize(prop.size() - 5);
    std::replace(prop.begin(), prop.end(), '_', '.');
    c.kafka.properties[prop] = from_file ? ReadValueFile(name, value) : value;
  }
}

void Validate(Config& c, const ConfigInputs& in) {
  const std::map<std::string, std::string>& env = in.env;
  const std::function<std::string(const SourceConfig&)>& check_source = in.check_source;
  if (in.require_sources && c.sources.empty()) {
    std::string providers;
    for (const std::string& p : in.known_providers)
      providers += (providers.empty() ? "" : ", ") + p;
    throw ConfigError(
        "no sources are configured, so every webhook would be answered 404: set "
        "SCHEDBRIDGE_SECRET_<PROVIDER> or SCHEDBRIDGE_SECRET_<PROVIDER>_FILE for a provider's "
        "default source, or list sources: in the config file (providers: " +
        providers + ").");
  }
  for (SourceConfig& s : c.sources) {
    if (auto it = s.options.find("secret_env"); it != s.options.end()) {
      auto e = env.find(it->second);
      if (e == env.end()) {
        throw ConfigError("source " + s.provider + "/" + s.name + ": environment variable " +
                          it->second + " (secret_env) is not set.");
      }
      for (std::string& v : SplitEnvSecrets(e->second)) s.secrets.push_back(std::move(v));
      s.options.erase(it);
    }
    if (check_source) {
      if (std::string problem = check_source(s); !problem.empty()) {
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
  try {
    (void)ProducerProperties(c.kafka);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(e.what());
  }
}

}  // namespace

std::string Config::Origin(std::string_view key) const {
  if (auto it = origins.find(key); it != origins.end()) return it->second;
  const SettingSpec* spec = FindSettingByKey(key);
  return spec != nullptr ? spec->env : std::string(key);
}

bool Config::AnySpooledSource() const {
  return std::any_of(sources.begin(), sources.end(),
                     [](const SourceConfig& s) { return s.ack == AckMode::kSpool; });
}

SpoolOptions Config::DefaultSpoolOptions() {
  SpoolOptions o;
  o.dir = "/var/lib/schedbridge/spool";
  return o;
}

const SourceConfig* Config::FindSource(std::string_view provider, std::string_view name) const {
  for (const SourceConfig& s : sources) {
    if (s.provider == provider && s.name == name) return &s;
  }
  return nullptr;
}

bool ValidToken(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

void ParseListen(const std::string& listen, std::string& host, int& port,
                 const std::string& where) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    throw ConfigError(where + " must be host:port.");
  }
  std::string h = listen.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  host = h.empty() ? "0.0.0.0" : h;
  port = static_cast<int>(ParseInt(where + " port", listen.substr(colon + 1), 0, 65535));
}

std::vector<std::string> ReadSecretFile(const std::string& path, bool allow_empty) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read secret file " + path + ".");
  std::vector<std::string> secrets;
  std::string line;
  while (std::getline(in, line)) {
    std::string_view t = provider_util::Trim(line);
    if (!t.empty()) secrets.emplace_back(t);
  }
  if (secrets.empty() && !allow_empty) throw ConfigError("secret file " + path + " is empty.");
  return secrets;
}

std::string WatchFingerprint(const Config& c) {
  std::vector<std::string> paths;
  if (!c.config_file.empty()) paths.push_back(c.config_file);
  for (const std::string* f : {&c.http.tls_cert_file, &c.http.tls_key_file}) {
    if (!f->empty()) paths.push_back(*f);
  }
  for (const SourceConfig& s : c.sources) {
    paths.insert(paths.end(), s.secret_files.begin(), s.secret_files.end());
  }
  std::string fingerprint;
  for (const std::string& path : paths) {
    struct stat st {};
    // stat() follows symlinks: Kubernetes swaps a mounted Secret by
    // re-pointing the ..data symlink, which changes the target's inode.
    if (::stat(path.c_str(), &st) != 0) {
      fingerprint += path + ":missing;";
      continue;
    }
    fingerprint += path + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
                   std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) +
                   ";";
  }
  return fingerprint;
}

SourceTable::SourceTable(std::vector<SourceConfig> sources)
    : sources_(std::make_shared<const std::vector<SourceConfig>>(std::move(sources))) {}

std::shared_ptr<const SourceConfig> SourceTable::Find(std::string_view provider,
                                                      std::string_view name) const {
  std::shared_ptr<const std::vector<SourceConfig>> all;
  {
    std::lock_guard lock(mu_);
    all = sources_;
  }
  for (const SourceConfig& s : *all) {
    if (s.provider == provider && s.name == name) {
      return std::shared_ptr<const SourceConfig>(all, &s);  // keeps the whole table alive
    }
  }
  return nullptr;
}

void SourceTable::Replace(std::vector<SourceConfig> sources) {
  auto next = std::make_shared<const std::vector<SourceConfig>>(std::move(sources));
  std::lock_guard lock(mu_);
  sources_ = std::move(next);
}

size_t SourceTable::size() const {
  std::lock_guard lock(mu_);
  return sources_->size();
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string kv(*e);
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

Config LoadConfig(const ConfigInputs& in) {
  Config c;
  std::optional<std::string> file = in.file;
  if (!file) {
    if (auto it = in.env.find("SCHEDBRIDGE_CONFIG"); it != in.env.end()) file = it->second;
  }
  try {
    if (in.file_contents) {
      LoadFile(c, "<config text>", in.known_providers, in.file_contents);
    } else if (file) {
      c.config_file = *file;
      LoadFile(c, *file, in.known_providers);
    }
  } catch (const YAML::Exception& e) {
    // A shape we do not expect (a list as a key, a map where a value goes...);
    // found by fuzzing the loader.
    throw ConfigError("config file " + file.value_or("<config text>") +
                      " has an unexpected structure: " + e.what());
  }
  ApplyEnvironment(c, in.env, in.known_providers);
  for (const auto& [name, value] : in.flags) {
    const SettingSpec* spec = FindSettingByEnv(name);
    if (spec == nullptr) throw ConfigError("unknown setting " + name + ".");
    ApplySetting(c, *spec, value, spec->flag);
  }
  for (const std::string& kv : in.kafka_flags) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw ConfigError("--kafka takes name=value.");
    }
    const std::string name = kv.substr(0, eq);
    if (name == "brokers") {
      c.kafka.brokers = kv.substr(eq + 1);
    } else {
      SetKafkaProperty(c, "--kafka ", name, kv.substr(eq + 1));
    }
  }
  Validate(c, in);
  if (c.pipeline.replica_id.empty()) c.pipeline.replica_id = HostName();
  return c;
}

}  // namespace bridge

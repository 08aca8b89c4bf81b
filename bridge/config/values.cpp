#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "bridge/config/config.h"
#include "bridge/config/loader.h"

namespace bridge {
namespace config_internal {
namespace {

/// A librdkafka property that holds a secret: it comes from the environment or
/// a file, never a flag or the config file. Properties naming a file
/// (ssl.key.location, sasl.kerberos.keytab) are paths, not secrets.
bool SecretKafkaProperty(const std::string& name) {
  const std::string n = Lower(name);
  auto ends_with = [&](std::string_view suffix) {
    return n.size() >= suffix.size() &&
           n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".location") || n == "sasl.kerberos.keytab") return false;
  return n.find("password") != std::string::npos || n.find("secret") != std::string::npos ||
         n.find("key") != std::string::npos;
}

}  // namespace

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
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
  const std::string v = Lower(value);
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  throw ConfigError(name + " must be true or false.");
}

AckMode ParseAck(const std::string& where, const std::string& value) {
  if (value == "kafka") return AckMode::kKafka;
  if (value == "spool") return AckMode::kSpool;
  throw ConfigError(where + " must be kafka or spool.");
}

std::vector<std::string> SplitEnvSecrets(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string_view t = Trim(std::string_view(text).substr(start, comma - start));
    if (!t.empty()) out.emplace_back(t);
    start = comma + 1;
  }
  return out;
}

std::string ReadValueFile(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read " + what + " file " + path + ".");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string v = ss.str();
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
  return v;
}

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

}  // namespace config_internal

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
  port = static_cast<int>(
      config_internal::ParseInt(where + " port", listen.substr(colon + 1), 0, 65535));
}

std::vector<std::string> ReadSecretFile(const std::string& path, bool allow_empty) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read secret file " + path + ".");
  std::vector<std::string> secrets;
  std::string line;
  while (std::getline(in, line)) {
    std::string_view t = config_internal::Trim(line);
    if (!t.empty()) secrets.emplace_back(t);
  }
  if (secrets.empty() && !allow_empty) throw ConfigError("secret file " + path + " is empty.");
  return secrets;
}

}  // namespace bridge

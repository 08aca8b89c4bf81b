// LoadConfig: defaults < config file < environment < flags, then the rules
// across settings. And what the process reads its configuration from.

#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cctype>

#include "bridge/config/config.h"
#include "bridge/config/loader.h"
#include "bridge/config/settings.h"

extern char** environ;

namespace bridge {
namespace {

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

void ApplyFlags(Config& c, const ConfigInputs& in) {
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
      config_internal::SetKafkaProperty(c, "--kafka ", name, kv.substr(eq + 1));
    }
  }
}

}  // namespace

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
      config_internal::LoadFile(c, "<config text>", in.known_providers, in.file_contents);
    } else if (file) {
      c.config_file = *file;
      config_internal::LoadFile(c, *file, in.known_providers);
    }
  } catch (const YAML::Exception& e) {
    // A shape we do not expect (a list as a key, a map where a value goes...);
    // found by fuzzing the loader.
    throw ConfigError("config file " + file.value_or("<config text>") +
                      " has an unexpected structure: " + e.what());
  }
  config_internal::ApplyEnvironment(c, in.env, in.known_providers);
  ApplyFlags(c, in);
  config_internal::Validate(c, in);
  if (c.pipeline.replica_id.empty()) c.pipeline.replica_id = HostName();
  return c;
}

}  // namespace bridge

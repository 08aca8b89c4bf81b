#include "bridge/config/config.h"

#include <algorithm>

namespace bridge {

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

}  // namespace bridge

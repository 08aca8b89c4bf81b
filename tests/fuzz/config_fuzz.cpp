// Fuzz target: the YAML configuration loader. Bad input must be a ConfigError
// with a message, never a crash or another exception.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "bridge/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bridge::ConfigInputs in;
  in.file_contents = std::string(reinterpret_cast<const char*>(data), size);
  in.known_providers = {"calcom", "calendly", "savvycal", "orufy"};
  try {
    const bridge::Config c = bridge::LoadConfig(in);
    for (const auto& s : c.sources) {
      if (s.secrets.empty() && !s.allow_unsigned) std::abort();  // validation let it through
    }
  } catch (const bridge::ConfigError& e) {
    if (std::string(e.what()).empty()) std::abort();
  }
  return 0;
}

#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/providers/provider.h"

namespace bridge {

/// The Calendly webhook normalizer.
std::unique_ptr<Provider> MakeCalendlyProvider();

/// `Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`
struct CalendlySignature {
  int64_t timestamp = 0;
  std::vector<std::string> v1;  // every v1 value, in order
};

/// Parses the header; nullopt when `t` is missing or not a number, or no v1 is
/// present. Unknown keys (future schemes) are ignored.
std::optional<CalendlySignature> ParseCalendlySignature(std::string_view header);

}  // namespace bridge

// Fuzz target: the Calendly-Webhook-Signature parser and the verifier using it.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "bridge/providers/calendly/webhook.h"
#include "bridge/providers/registry.h"
#include "tests/support/fake_clock.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bridge;
  const std::string header(reinterpret_cast<const char*>(data), size);
  if (auto sig = ParseCalendlySignature(header)) {
    if (sig->v1.empty() || sig->timestamp < 0) std::abort();
    for (const auto& v : sig->v1) {
      if (v.size() != 64) std::abort();
    }
  }
  static const Provider* calendly = ProviderRegistry::BuiltIn().Find("calendly");
  static const FixedClock clock = FixedClock::AtUnixSeconds(1741684361);
  SourceConfig source;
  source.provider = "calendly";
  source.secrets = {"k"};
  Headers h;
  h.Add("Calendly-Webhook-Signature", header);
  const Delivery d{"{}", &h, {}};
  // A random header never verifies (it would need the HMAC).
  if (calendly->Verify(d, source, clock).ok()) std::abort();
  return 0;
}

// Fuzz target: the provider API clients over arbitrary HTTP answers. A fake
// HttpTransport answers each request with the next answer cut from the input,
// so page sequences (repeated pages and cursors, paging that never ends,
// broken JSON, error statuses with hostile bodies) reach every list loop.
//
// Input: one selector byte (provider and operation), then answers separated
// by a line "=====". An answer is a three-digit status, then its body; an
// answer "ERR" is a transport failure and "BIG" an answer over the size cap.
// When the answers run out, every request fails: the run must end.

#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/api/provider_api.h"
#include "bridge/providers/api_support.h"
#include "bridge/providers/registry.h"
#include "bridge/sync/subscriptions.h"

namespace {

using namespace bridge;

class ScriptedTransport final : public HttpTransport {
 public:
  explicit ScriptedTransport(std::string_view script) {
    constexpr std::string_view kSeparator = "\n=====\n";
    while (!script.empty()) {
      const size_t end = script.find(kSeparator);
      answers_.emplace_back(script.substr(0, end));
      script = end == std::string_view::npos ? std::string_view()
                                             : script.substr(end + kSeparator.size());
    }
  }

  HttpResponse Send(const HttpRequest&) override {
    HttpResponse r;
    if (next_ >= answers_.size()) {
      r.transport_error = "no more answers";
      return r;
    }
    const std::string& a = answers_[next_++];
    if (a.rfind("ERR", 0) == 0) {
      r.transport_error = "scripted failure";
    } else if (a.rfind("BIG", 0) == 0) {
      r.fatal_error = "an answer larger than the cap";
    } else if (a.size() >= 3 && std::isdigit(static_cast<unsigned char>(a[0])) &&
               std::isdigit(static_cast<unsigned char>(a[1])) &&
               std::isdigit(static_cast<unsigned char>(a[2]))) {
      r.status = std::stoi(a.substr(0, 3));
      r.body = a.substr(3);
      if (r.status == 429) r.retry_after = "1";
    } else {
      r.status = 200;
      r.body = a;
    }
    return r;
  }

 private:
  std::vector<std::string> answers_;
  size_t next_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* kProviders[] = {"calcom", "calendly", "savvycal"};
  const uint8_t selector = data[0];
  const std::string provider = kProviders[selector % 3];
  const std::string_view script(reinterpret_cast<const char*>(data + 1), size - 1);

  ScriptedTransport transport(script);
  RetryPolicy policy;
  policy.max_attempts = 2;
  policy.sleep = [](std::chrono::milliseconds) {};
  ApiSession session(transport, provider, "Bearer fuzz-key-0123456789", policy);
  const Provider& normalizer = *ProviderRegistry::BuiltIn().Find(provider);
  std::unique_ptr<ProviderApi> api = MakeProviderApi(provider, session, normalizer);
  try {
    if ((selector / 3) % 2 == 0) {
      std::map<std::string, ApiBooking> bookings;
      api->ListBookings(
          BookingWindow{0, int64_t{4102444800000}, 0, 1 + (selector >> 4)}, "default",
          [&](ApiBooking b) {
            const std::string uid = b.event.booking ? b.event.booking->uid : "";
            bookings[uid] = std::move(b);
          },
          [](const ListProgress&) {});
    } else {
      const std::vector<Subscription> existing = api->ListSubscriptions();
      SubscriptionTarget target{"https://hooks.example.com/webhooks/" + provider,
                                SubscribedEvents(*api, normalizer), "fuzz-secret-0123456789"};
      const SubscriptionPlan plan = PlanSubscription(*api, target, existing, {});
      std::ostringstream out;
      out << DescribePlan(plan);
    }
  } catch (const ApiError& e) {
    // The expected end of a hostile script; what it says must be printable.
    for (const char c : std::string_view(e.what())) {
      if (c == '\x1b') __builtin_trap();
    }
  }
  // Error excerpts over arbitrary bytes: bounded, no control characters.
  const std::string excerpt = SafeExcerpt(std::string(script), "fuzz-key-0123456789");
  if (excerpt.size() > 200) __builtin_trap();
  for (const char c : excerpt) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) __builtin_trap();
  }
  return 0;
}

// Per-provider costs of the three steps of the hot path, on the examples.

#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include "bridge/crypto/hmac.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/providers/registry.h"
#include "bridge/util/json.h"

namespace {

using namespace bridge;

std::string Compact(const std::string& relative) {
  std::ifstream in(std::string(SCHEDBRIDGE_SOURCE_DIR) + "/tests/fixtures/" + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  rapidjson::Document d;
  json::Parse(ss.str(), d);
  return json::Serialize(d);
}

struct Case {
  const char* provider;
  const char* fixture;
};
const Case kCases[] = {{"calcom", "calcom/BOOKING_CREATED.json"},
                       {"calendly", "calendly/invitee.created.json"},
                       {"savvycal", "savvycal/event.created.json"},
                       {"orufy", "orufy/BOOK.json"}};

Headers SignedHeaders(const std::string& provider, const std::string& body, int64_t t) {
  Headers h;
  h.Add("Content-Type", "application/json");
  const auto mac = [&](std::initializer_list<std::string_view> parts) {
    return crypto::HexLower(crypto::Hmac(crypto::Digest::kSha256, "bench", parts));
  };
  if (provider == "calcom") h.Add("X-Cal-Signature-256", mac({body}));
  if (provider == "calendly") {
    const std::string ts = std::to_string(t);
    h.Add("Calendly-Webhook-Signature", "t=" + ts + ",v1=" + mac({ts, ".", body}));
  }
  if (provider == "savvycal") h.Add("x-savvycal-signature", "sha256=" + mac({body}));
  if (provider == "orufy") h.Add("Authorization", "Bearer bench");
  return h;
}

void BM_Verify(benchmark::State& state) {
  const Case& c = kCases[state.range(0)];
  const Provider& p = *ProviderRegistry::BuiltIn().Find(c.provider);
  const std::string body = Compact(c.fixture);
  const FixedClock clock = FixedClock::AtUnixSeconds(1767225600);
  const Headers h = SignedHeaders(c.provider, body, 1767225600);
  SourceConfig source;
  source.provider = c.provider;
  source.secrets = {"bench"};
  for (auto _ : state) {
    benchmark::DoNotOptimize(p.Verify(Delivery{body, &h, {}}, source, clock));
  }
  state.SetLabel(c.provider);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void BM_Normalize(benchmark::State& state) {
  const Case& c = kCases[state.range(0)];
  const Provider& p = *ProviderRegistry::BuiltIn().Find(c.provider);
  const std::string body = Compact(c.fixture);
  Headers h;
  const NormalizeContext ctx{"default", "2026-01-01T00:00:00Z"};
  for (auto _ : state) {
    benchmark::DoNotOptimize(p.Normalize(Delivery{body, &h, {}}, ctx));
  }
  state.SetLabel(c.provider);
}

void BM_Serialize(benchmark::State& state) {
  const Case& c = kCases[state.range(0)];
  const Provider& p = *ProviderRegistry::BuiltIn().Find(c.provider);
  const std::string body = Compact(c.fixture);
  Headers h;
  const auto events = std::get<std::vector<CanonicalEvent>>(
      p.Normalize(Delivery{body, &h, {}}, {"default", "2026-01-01T00:00:00Z"}));
  for (auto _ : state) {
    for (const auto& e : events) benchmark::DoNotOptimize(EventMessage(e, "events"));
  }
  state.SetLabel(c.provider);
}

BENCHMARK(BM_Verify)->DenseRange(0, 3);
BENCHMARK(BM_Normalize)->DenseRange(0, 3);
BENCHMARK(BM_Serialize)->DenseRange(0, 3);

}  // namespace

BENCHMARK_MAIN();

// Per-provider costs of the three steps of the hot path, on the examples.

#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "bridge/crypto/hmac.h"
#include "bridge/pipeline/dedup.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/providers/registry.h"
#include "bridge/util/json.h"
#include "bridge/util/metrics.h"
#include "tests/support/fake_clock.h"

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

std::string UuidFor(uint64_t i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%08llx-7a3b-8c4d-9e5f-%012llx",
                static_cast<unsigned long long>(i * 2654435761u & 0xffffffffu),
                static_cast<unsigned long long>(i & 0xffffffffffffu));
  return buf;
}

// The duplicate-suppression index at its default capacity: cost per id
// recorded and looked up, and heap bytes per id held.
void BM_DedupIndex(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    // Small blocks (uordblks) and large ones glibc maps directly (hblkhd).
    const size_t heap_before = mallinfo2().uordblks + mallinfo2().hblkhd;
    state.ResumeTiming();
    RecentIds ids(n);
    for (uint64_t i = 0; i < n; ++i) ids.Insert({UuidFor(i)}, "schedbridge-0", 1767225600000);
    size_t found = 0;
    for (uint64_t i = 0; i < n; i += 7) found += ids.FindAll({UuidFor(i)}, 1767225600000) ? 1 : 0;
    benchmark::DoNotOptimize(found);
    state.PauseTiming();
    state.counters["heap_bytes_per_id"] =
        static_cast<double>(mallinfo2().uordblks + mallinfo2().hblkhd - heap_before) /
        static_cast<double>(n);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
// The metrics one webhook records (duration, request count, event count),
// from 1 and 4 threads at once.
void BM_RequestMetrics(benchmark::State& state) {
  static Metrics* metrics = [] {
    auto* m = new Metrics();
    m->DescribeHistogram("schedbridge_webhook_duration_seconds", "",
                         {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    return m;
  }();
  const std::string provider = "calcom", source = "default", type = "booking.created";
  for (auto _ : state) {
    metrics->Observe("schedbridge_webhook_duration_seconds", {{"provider", provider}}, 0.004);
    metrics->Inc("schedbridge_webhook_requests_total",
                 {{"provider", provider}, {"source", source}, {"code", std::to_string(202)}});
    metrics->Inc("schedbridge_events_published_total",
                 {{"provider", provider}, {"event_type", type}});
  }
}
BENCHMARK(BM_RequestMetrics)->Threads(1)->Threads(4)->UseRealTime();

BENCHMARK(BM_DedupIndex)->Arg(1000000)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();

#include "bridge/api/commands.h"

#include <fstream>
#include <iostream>

#include "bridge/api/subscriptions.h"
#include "bridge/kafka/rdkafka_publisher.h"
#include "bridge/model/time.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/providers/registry.h"
#include "bridge/util/clock.h"
#include "bridge/util/files.h"

namespace bridge {
namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConfig = 78;

std::string Name(const SourceConfig& s) { return s.provider + "/" + s.name; }

/// The API session for a source: its key, its base URL. nullopt with the
/// exit code and message written when it cannot have one.
struct SourceApi {
  std::unique_ptr<HttpTransport> transport;
  std::unique_ptr<ApiSession> session;
  std::unique_ptr<ProviderApi> api;
};

int OpenApi(const SourceConfig& s, const RetryPolicy& retry, SourceApi& out, std::ostream& err) {
  const Provider* normalizer = ProviderRegistry::BuiltIn().Find(s.provider);
  const std::string base = s.api_url.empty() ? DefaultApiUrl(s.provider) : s.api_url;
  if (normalizer == nullptr || base.empty()) {
    err << Name(s) << ": " << s.provider << " documents no API for this.\n";
    return kExitConfig;
  }
  if (s.api_key_file.empty()) {
    std::string up = s.provider;
    for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    err << Name(s) << ": no API key: set api_key_file on the source (or SCHEDBRIDGE_API_KEY_FILE_"
        << up << " for the default source), a file holding the provider's API key.\n";
    return kExitConfig;
  }
  std::string error = CheckApiUrl(base, s.api_allow_http);
  if (!error.empty()) {
    err << Name(s) << ": " << error << "\n";
    return kExitConfig;
  }
  std::string key, warning;
  try {
    key = ReadApiKey(s.api_key_file, &warning);
  } catch (const std::exception& e) {
    err << Name(s) << ": " << e.what() << "\n";
    return kExitConfig;
  }
  if (!warning.empty()) err << Name(s) << ": warning: " << warning << "\n";
  out.transport = MakeHttpTransport(base, std::chrono::seconds(30), error);
  if (!out.transport) {
    err << Name(s) << ": " << error << "\n";
    return kExitConfig;
  }
  out.session = std::make_unique<ApiSession>(*out.transport, s.provider, "Bearer " + key, retry);
  out.api = MakeProviderApi(s.provider, *out.session, *normalizer);
  return 0;
}

int ApiFailure(const SourceConfig& s, const ApiError& e, std::ostream& err) {
  err << Name(s) << ": " << e.what() << "\n";
  return e.kind() == ApiError::Kind::kCredentials ? kExitConfig : kExitRuntime;
}

void OrufyInstructions(const Config& config, const SourceConfig& s, std::ostream& out) {
  out << Name(s) << ": Orufy documents no API for webhooks; set it by hand in Orufy (Settings → "
      << "Webhooks):\n"
      << "  URL:    "
      << (config.public_url.empty() ? "<public_url>/webhooks/orufy"
                                    : SubscriberUrl(config.public_url, s))
      << "\n  events: ";
  const Provider* p = ProviderRegistry::BuiltIn().Find("orufy");
  std::string events;
  for (const std::string& t : p->Triggers()) events += (events.empty() ? "" : ", ") + t;
  out << events << "\n  auth:   the source's current secret, as the README's Orufy section shows\n";
}

}  // namespace

std::string SubscriberUrl(const std::string& public_url, const SourceConfig& source) {
  return public_url + "/webhooks/" + source.provider +
         (source.name == kDefaultSource ? "" : "/" + source.name);
}

std::vector<const SourceConfig*> SelectSources(const Config& config, const std::string& selector,
                                               std::string& error) {
  // One vocabulary with replay and dlq: provider/name, a source's name, or a
  // provider (its default source, or its only one).
  std::vector<const SourceConfig*> out, of_provider;
  std::string list;
  for (const SourceConfig& s : config.sources) {
    list += (list.empty() ? "" : ", ") + Name(s);
    if (s.provider == selector) of_provider.push_back(&s);
    const bool match = selector.empty() || selector == Name(s) ||
                       (selector == s.provider && s.name == kDefaultSource) ||
                       (selector.find('/') == std::string::npos && selector == s.name);
    if (match) out.push_back(&s);
  }
  if (out.empty()) out = of_provider;  // one is chosen; several are named below
  if (out.empty()) {
    error = selector.empty() ? "no sources are configured."
                             : "no source " + selector +
                                   "; name one as provider/name, or by its name (configured: " +
                                   (list.empty() ? "none" : list) + ").";
  } else if (!selector.empty() && out.size() > 1) {
    std::string several;
    for (const SourceConfig* s : out) several += (several.empty() ? "" : ", ") + Name(*s);
    error = "--source " + selector + " names several sources (" + several +
            "); name one as provider/name.";
    out.clear();
  }
  return out;
}

namespace {

int SubscriptionsRun(const Config& config, const SubscriptionsFlags& f, std::ostream& out,
                     std::ostream& err) {
  std::string error;
  const std::vector<const SourceConfig*> sources = SelectSources(config, f.source, error);
  if (sources.empty()) {
    err << "schedbridge: " << error << "\n";
    return f.source.empty() ? kExitConfig : kExitUsage;
  }
  if (f.action != "list" && config.public_url.empty()) {
    err << "schedbridge: subscriptions " << f.action
        << " needs SCHEDBRIDGE_PUBLIC_URL (public_url): where the providers reach the webhook "
           "port, e.g. https://hooks.example.com.\n";
    return kExitConfig;
  }
  int worst = 0;
  for (const SourceConfig* s : sources) {
    if (DefaultApiUrl(s->provider).empty() && s->api_url.empty()) {
      OrufyInstructions(config, *s, out);
      continue;
    }
    SourceApi api;
    if (int code = OpenApi(*s, f.retry, api, err); code != 0) {
      worst = std::max(worst, code);
      continue;
    }
    try {
      const std::vector<Subscription> existing = api.api->ListSubscriptions();
      if (f.action == "list") {
        out << Name(*s) << ": " << existing.size() << " subscription(s)\n";
        const std::string url =
            config.public_url.empty() ? "" : SubscriberUrl(config.public_url, *s);
        for (const Subscription& sub : existing) {
          out << "  " << DescribeSubscription(sub) << (sub.url == url ? "  ← this source" : "")
              << "\n";
        }
        continue;
      }
      const Provider& normalizer = *ProviderRegistry::BuiltIn().Find(s->provider);
      SubscriptionTarget target{SubscriberUrl(config.public_url, *s),
                                SubscribedEvents(*api.api, normalizer),
                                s->secrets.empty() ? std::string() : s->secrets.front()};
      const bool issued = api.api->secret_mode() == ProviderApi::SecretMode::kIssued;
      if (!issued && target.secret.empty()) {
        err << Name(*s) << ": the source has no secret to give the provider; set one first.\n";
        worst = std::max(worst, kExitConfig);
        continue;
      }
      if (issued && s->secret_files.empty()) {
        // Checked before any change: the issued secret must have somewhere to go.
        err << Name(*s) << ": " << s->provider
            << " issues the webhook's secret: give the source a secret file (secret_files, or "
               "SCHEDBRIDGE_SECRET_<PROVIDER>_FILE; it may be empty) so apply can store it.\n";
        worst = std::max(worst, kExitConfig);
        continue;
      }
      const SubscriptionPlan plan =
          PlanSubscription(*api.api, target, existing, PlanOptions{f.update_secret, s->secrets});
      out << Name(*s) << " → " << target.url << "\n" << DescribePlan(plan);
      if (f.action == "apply" && !plan.in_sync()) {
        const std::string secret_file = s->secret_files.empty() ? "" : s->secret_files.front();
        ApplyPlan(*api.api, plan, secret_file, out);
      }
    } catch (const ApiError& e) {
      worst = std::max(worst, ApiFailure(*s, e, err));
    } catch (const std::exception& e) {
      err << Name(*s) << ": " << e.what() << "\n";
      worst = std::max(worst, kExitRuntime);
    }
  }
  return worst;
}

int ReconcileRun(const Config& config, ReconcileFlags f, std::ostream& out, std::ostream& err) {
  std::string error;
  const std::vector<const SourceConfig*> sources = SelectSources(config, f.source, error);
  if (sources.size() != 1) {
    err << "schedbridge: " << error << "\n";
    return kExitUsage;
  }
  const SourceConfig& s = *sources.front();
  SourceApi api;
  if (int code = OpenApi(s, f.retry, api, err); code != 0) return code;
  ReconcileOptions& o = f.options;
  o.provider = s.provider;
  o.source = s.name;
  o.events_topic = config.pipeline.events_topic;
  const Provider& provider = *ProviderRegistry::BuiltIn().Find(s.provider);
  std::unique_ptr<RdKafkaPublisher> publisher;
  std::unique_ptr<Pipeline> pipeline;
  SystemClock clock;
  if (!o.dry_run) {
    publisher = RdKafkaPublisher::Create(config.kafka, error);
    if (!publisher) {
      err << "schedbridge: " << error << "\n";
      return kExitConfig;
    }
    pipeline = std::make_unique<Pipeline>(config.pipeline, *publisher, clock);
  }
  ReconcileSummary summary;
  try {
    summary = RunReconcile(*api.api, pipeline.get(), provider, config.kafka, o, out, err);
  } catch (const std::exception& e) {
    // RunReconcile reports what it expects; anything else still gets a
    // summary, metrics and a non-zero exit, never an abort.
    summary.provider = o.provider;
    summary.source = o.source;
    summary.dry_run = o.dry_run;
    summary.error = std::string("unexpected failure: ") + e.what();
    summary.exit_code = kExitRuntime;
  }
  summary.api = api.session->stats();
  if (publisher) publisher->Close(config.http.shutdown_timeout);
  err << summary.Text() << "\n";
  const int64_t now_s = UnixMillis(std::chrono::system_clock::now()) / 1000;
  const std::string metrics = ReconcileMetricsText(summary, now_s);
  if (!f.metrics_file.empty()) {
    try {
      files::WriteAtomically(f.metrics_file, metrics, 0644);  // node-exporter reads it
    } catch (const std::exception& e) {
      err << "schedbridge: " << e.what() << "\n";
    }
  }
  if (!f.pushgateway.empty()) {
    if (std::string problem = PushMetrics(f.pushgateway, summary, metrics); !problem.empty()) {
      err << "schedbridge: " << problem << "\n";
    }
  }
  return summary.exit_code;
}

}  // namespace

// The commands never end in an uncaught exception (an abort, no summary):
// what the runs above do not report themselves is a runtime failure.
int SubscriptionsCommand(const Config& config, const SubscriptionsFlags& flags, std::ostream& out,
                         std::ostream& err) {
  try {
    return SubscriptionsRun(config, flags, out, err);
  } catch (const std::exception& e) {
    err << "schedbridge: subscriptions failed: " << e.what() << "\n";
    return kExitRuntime;
  }
}

int ReconcileCommand(const Config& config, ReconcileFlags flags, std::ostream& out,
                     std::ostream& err) {
  try {
    return ReconcileRun(config, std::move(flags), out, err);
  } catch (const std::exception& e) {
    err << "schedbridge: reconcile failed: " << e.what() << "\n";
    return kExitRuntime;
  }
}

}  // namespace bridge

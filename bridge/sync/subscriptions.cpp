#include "bridge/sync/subscriptions.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "bridge/config/config.h"
#include "bridge/providers/api_support.h"
#include "bridge/providers/registry.h"
#include "bridge/sync/source_api.h"
#include "bridge/util/files.h"

namespace bridge {
namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

/// "+A, +B, -C" between two sorted lists.
std::string EventDelta(const std::vector<std::string>& have, const std::vector<std::string>& want) {
  std::vector<std::string> add, drop, delta;
  std::set_difference(want.begin(), want.end(), have.begin(), have.end(), std::back_inserter(add));
  std::set_difference(have.begin(), have.end(), want.begin(), want.end(), std::back_inserter(drop));
  for (const std::string& a : add) delta.push_back("+" + a);
  for (const std::string& d : drop) delta.push_back("-" + d);
  return Join(delta);
}

const char* KindText(SubscriptionChange::Kind k) {
  switch (k) {
    case SubscriptionChange::Kind::kCreate:
      return "create";
    case SubscriptionChange::Kind::kUpdate:
      return "update";
    case SubscriptionChange::Kind::kRecreate:
      return "re-create";
    case SubscriptionChange::Kind::kDeleteDuplicate:
      return "delete duplicate";
    case SubscriptionChange::Kind::kStoreSecret:
      return "store secret";
  }
  return "?";
}

}  // namespace

SubscriptionPlan PlanSubscription(const ProviderApi& api, const SubscriptionTarget& target,
                                  const std::vector<Subscription>& existing,
                                  const PlanOptions& options) {
  SubscriptionPlan plan;
  plan.target = target;
  for (const Subscription& s : existing)
    (s.url == target.url ? plan.ours : plan.others).push_back(s);
  const ProviderApi::SecretMode mode = api.secret_mode();
  if (plan.ours.empty()) {
    SubscriptionChange c;
    c.kind = SubscriptionChange::Kind::kCreate;
    c.reasons.push_back("no subscription to " + target.url);
    plan.changes.push_back(c);
    return plan;
  }
  const Subscription& mine = plan.ours.front();
  SubscriptionChange c;
  c.existing = mine;
  if (mine.events != target.events)
    c.reasons.push_back("events " + EventDelta(mine.events, target.events));
  if (!mine.active) c.reasons.push_back("inactive (disabled)");
  if (!mine.payload_template.empty()) c.reasons.push_back("has a payload template");
  if (!mine.scope.empty() && mine.scope != "organization") {
    c.reasons.push_back("scope " + mine.scope + " (routing forms need organization)");
  }
  bool new_secret = false;
  if (mode == ProviderApi::SecretMode::kReadable) {
    if (!target.secret.empty() &&
        (options.update_secret || !mine.secret || *mine.secret != target.secret)) {
      c.reasons.push_back(mine.secret ? "secret is not the source's current secret"
                                      : "secret set to the source's current secret");
    }
  } else if (mode == ProviderApi::SecretMode::kWriteOnly) {
    if (options.update_secret)
      c.reasons.push_back("signing key set to the source's current secret");
  } else if (options.update_secret) {
    c.reasons.push_back("a new secret issued by the provider");
    new_secret = true;
  }
  if (!c.reasons.empty()) {
    const bool in_place = api.updates_in_place() && !new_secret;
    c.kind = in_place ? SubscriptionChange::Kind::kUpdate : SubscriptionChange::Kind::kRecreate;
    plan.changes.push_back(c);
  } else if (mode == ProviderApi::SecretMode::kIssued && mine.secret &&
             std::find(options.local_secrets.begin(), options.local_secrets.end(), *mine.secret) ==
                 options.local_secrets.end()) {
    SubscriptionChange store;
    store.kind = SubscriptionChange::Kind::kStoreSecret;
    store.existing = mine;
    store.reasons.push_back("the secret the provider issued is not in the source's secret file");
    plan.changes.push_back(store);
  }
  for (size_t i = 1; i < plan.ours.size(); ++i) {
    SubscriptionChange d;
    d.kind = SubscriptionChange::Kind::kDeleteDuplicate;
    d.existing = plan.ours[i];
    d.reasons.push_back("a second subscription to the same URL delivers everything twice");
    plan.changes.push_back(d);
  }
  return plan;
}

void ApplyPlan(ProviderApi& api, const SubscriptionPlan& plan, const std::string& secret_file,
               std::ostream& out) {
  const bool issued = api.secret_mode() == ProviderApi::SecretMode::kIssued;
  const auto store = [&](const Subscription& s) {
    if (!issued || !s.secret) return;
    StoreIssuedSecret(secret_file, *s.secret);
    out << "  stored the issued secret as the current one in " << secret_file
        << " (the previous ones kept after it)\n";
  };
  for (const SubscriptionChange& c : plan.changes) {
    switch (c.kind) {
      case SubscriptionChange::Kind::kCreate: {
        const Subscription made = api.Create(plan.target);
        out << "  created " << (made.id.empty() ? plan.target.url : made.id) << "\n";
        store(made);
        break;
      }
      case SubscriptionChange::Kind::kUpdate:
        if (api.Update(c.existing, plan.target)) {
          out << "  updated " << c.existing.id << "\n";
          break;
        }
        [[fallthrough]];
      case SubscriptionChange::Kind::kRecreate: {
        api.Delete(c.existing);
        const Subscription made = api.Create(plan.target);
        out << "  re-created " << c.existing.id << " as " << made.id << "\n";
        store(made);
        break;
      }
      case SubscriptionChange::Kind::kDeleteDuplicate:
        api.Delete(c.existing);
        out << "  deleted duplicate " << c.existing.id << "\n";
        break;
      case SubscriptionChange::Kind::kStoreSecret:
        store(c.existing);
        break;
    }
  }
}

void StoreIssuedSecret(const std::string& path, const std::string& secret) {
  if (path.empty()) {
    throw std::runtime_error(
        "the provider issues this webhook's secret: give the source a secret file "
        "(secret_files, or SCHEDBRIDGE_SECRET_<PROVIDER>_FILE) so apply can store it.");
  }
  // The API chooses this secret: one that `serve` would refuse (short, or
  // with control characters or line breaks that forge lines in the file) is
  // refused here, before the file changes.
  const size_t min_bytes = Config().min_secret_bytes;
  const bool printable = std::all_of(secret.begin(), secret.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (secret.size() < min_bytes || secret.size() > 4096 || !printable) {
    throw std::runtime_error("the secret the provider issued is not usable (it must be " +
                             std::to_string(min_bytes) +
                             " to 4096 printable characters, without spaces or line breaks); " +
                             path + " was not changed.");
  }
  // Refused before anything is read through it, not only before the write.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    throw std::runtime_error(path +
                             " is a symbolic link; refusing to store the issued secret "
                             "through it.");
  }
  std::string content = secret + "\n";
  if (std::ifstream in(path); in) {
    for (const std::string& line : ReadSecretFile(path, /*allow_empty=*/true)) {
      if (line != secret) content += line + "\n";
    }
  }
  files::WriteAtomically(path, content, 0600);
}

std::string DescribeSubscription(const Subscription& s) {
  std::ostringstream out;
  out << (s.id.empty() ? "(no id)" : s.id) << "  " << s.url << "  "
      << (s.active ? "active" : "inactive") << "  " << s.events.size() << " event(s)";
  if (!s.scope.empty()) out << "  scope " << s.scope;
  if (!s.payload_template.empty()) out << "  payload template set";
  return out.str();
}

std::string DescribePlan(const SubscriptionPlan& plan) {
  std::ostringstream out;
  if (plan.in_sync()) {
    out << "  in sync: " << DescribeSubscription(plan.ours.front()) << "\n";
  }
  for (const SubscriptionChange& c : plan.changes) {
    out << "  " << KindText(c.kind);
    if (!c.existing.id.empty()) out << " " << c.existing.id;
    out << ": " << Join(c.reasons) << "\n";
  }
  if (!plan.others.empty()) {
    out << "  left alone: " << plan.others.size() << " other subscription(s) of this account\n";
  }
  return out.str();
}

namespace {

/// A provider with no webhook API: how to subscribe by hand.
void ManualInstructions(const Config& config, const SourceConfig& s, std::ostream& out) {
  const ProviderEntry* entry = ProviderRegistry::FindEntry(s.provider);
  const std::string_view name = entry != nullptr ? entry->display_name : s.provider;
  const std::string_view where =
      entry != nullptr && !entry->manual_setup.empty() ? entry->manual_setup : "its settings";
  out << SourceName(s) << ": " << name << " documents no API for webhooks; set it by hand in "
      << name << " (" << where << "):\n"
      << "  URL:    "
      << (config.public_url.empty() ? "<public_url>/webhooks/" + s.provider
                                    : SubscriberUrl(config.public_url, s))
      << "\n  events: ";
  const Provider* p = ProviderRegistry::BuiltIn().Find(s.provider);
  std::string events;
  if (p != nullptr) {
    for (const std::string& t : p->Triggers()) events += (events.empty() ? "" : ", ") + t;
  }
  out << events << "\n  auth:   the source's current secret, as the README's " << name
      << " section shows\n";
}

void ListSource(const Config& config, const SourceConfig& s,
                const std::vector<Subscription>& existing, std::ostream& out) {
  out << SourceName(s) << ": " << existing.size() << " subscription(s)\n";
  const std::string url = config.public_url.empty() ? "" : SubscriberUrl(config.public_url, s);
  for (const Subscription& sub : existing) {
    out << "  " << DescribeSubscription(sub) << (sub.url == url ? "  ← this source" : "") << "\n";
  }
}

/// diff or apply for one source whose API is open.
SyncOutcome PlanSource(const Config& config, const SubscriptionsRequest& r, const SourceConfig& s,
                       ProviderApi& api, const std::vector<Subscription>& existing,
                       std::ostream& out, std::ostream& err) {
  const Provider& normalizer = *ProviderRegistry::BuiltIn().Find(s.provider);
  SubscriptionTarget target{SubscriberUrl(config.public_url, s), SubscribedEvents(api, normalizer),
                            s.secrets.empty() ? std::string() : s.secrets.front()};
  const bool issued = api.secret_mode() == ProviderApi::SecretMode::kIssued;
  if (!issued && target.secret.empty()) {
    err << SourceName(s) << ": the source has no secret to give the provider; set one first.\n";
    return SyncOutcome::kNotConfigured;
  }
  if (issued && s.secret_files.empty()) {
    // Checked before any change: the issued secret must have somewhere to go.
    err << SourceName(s) << ": " << s.provider
        << " issues the webhook's secret: give the source a secret file (secret_files, or "
           "SCHEDBRIDGE_SECRET_<PROVIDER>_FILE; it may be empty) so apply can store it.\n";
    return SyncOutcome::kNotConfigured;
  }
  const SubscriptionPlan plan =
      PlanSubscription(api, target, existing, PlanOptions{r.update_secret, s.secrets});
  out << SourceName(s) << " → " << target.url << "\n" << DescribePlan(plan);
  if (r.action == "apply" && !plan.in_sync()) {
    const std::string secret_file = s.secret_files.empty() ? "" : s.secret_files.front();
    ApplyPlan(api, plan, secret_file, out);
  }
  return SyncOutcome::kDone;
}

SyncOutcome SyncSource(const Config& config, const SubscriptionsRequest& r, const SourceConfig& s,
                       std::ostream& out, std::ostream& err) {
  if (DefaultApiUrl(s.provider).empty() && s.api_url.empty()) {
    ManualInstructions(config, s, out);
    return SyncOutcome::kDone;
  }
  SourceApi api;
  if (!OpenSourceApi(s, r.retry, api, err)) return SyncOutcome::kNotConfigured;
  try {
    const std::vector<Subscription> existing = api.api->ListSubscriptions();
    if (r.action == "list") {
      ListSource(config, s, existing, out);
      return SyncOutcome::kDone;
    }
    return PlanSource(config, r, s, *api.api, existing, out, err);
  } catch (const ApiError& e) {
    err << SourceName(s) << ": " << e.what() << "\n";
    return ApiErrorOutcome(e);
  } catch (const std::exception& e) {
    err << SourceName(s) << ": " << e.what() << "\n";
    return SyncOutcome::kFailed;
  }
}

}  // namespace

SubscriptionsResult SyncSubscriptions(const Config& config, const SubscriptionsRequest& r,
                                      std::ostream& out, std::ostream& err) {
  SubscriptionsResult result;
  std::string error;
  const std::vector<const SourceConfig*> sources = SelectSources(config, r.source, error);
  if (sources.empty()) {
    err << "schedbridge: " << error << "\n";
    result.outcome = r.source.empty() ? SyncOutcome::kNotConfigured : SyncOutcome::kBadSelection;
    return result;
  }
  if (r.action != "list" && config.public_url.empty()) {
    err << "schedbridge: subscriptions " << r.action
        << " needs SCHEDBRIDGE_PUBLIC_URL (public_url): where the providers reach the webhook "
           "port, e.g. https://hooks.example.com.\n";
    result.outcome = SyncOutcome::kNotConfigured;
    return result;
  }
  for (const SourceConfig* s : sources) {
    result.outcome = std::max(result.outcome, SyncSource(config, r, *s, out, err));
  }
  return result;
}

}  // namespace bridge

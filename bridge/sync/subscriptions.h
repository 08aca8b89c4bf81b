#pragma once

// `schedbridge subscriptions list|diff|apply`: each configured source's
// webhook subscription at its provider, compared with what it should be
// (<public_url>/webhooks/<provider>[/<source>], every trigger the normalizer
// maps, the source's current secret, Cal.com's payload template empty,
// active), and brought there. Apply is idempotent: a second run changes
// nothing. Other subscriptions of the account are listed and left alone.

#include <ostream>
#include <string>
#include <vector>

#include "bridge/api/provider_api.h"
#include "bridge/sync/outcome.h"

namespace bridge {

struct Config;

struct SubscriptionChange {
  enum class Kind {
    kCreate,           // no subscription to this URL yet
    kUpdate,           // changed in place (Cal.com)
    kRecreate,         // deleted and created again (no update in the API)
    kDeleteDuplicate,  // a second subscription to the same URL: every delivery twice
    kStoreSecret,      // the provider issued a secret the source's file lacks (SavvyCal)
  };
  Kind kind = Kind::kCreate;
  std::vector<std::string> reasons;  // what differs, for people; never a secret
  Subscription existing;             // for all but kCreate
};

struct SubscriptionPlan {
  SubscriptionTarget target;
  std::vector<Subscription> ours;    // subscriptions to target.url
  std::vector<Subscription> others;  // everything else in the account
  std::vector<SubscriptionChange> changes;
  bool in_sync() const { return changes.empty(); }
};

struct PlanOptions {
  /// Send the current secret even where it cannot be compared (Calendly's
  /// write-only signing key: re-create), or have a new one issued (SavvyCal).
  bool update_secret = false;
  /// The source's secrets now (the first is current); for SavvyCal, whether
  /// the issued secret is already in the file.
  std::vector<std::string> local_secrets;
};

/// What apply would do, from the subscriptions the provider lists.
SubscriptionPlan PlanSubscription(const ProviderApi& api, const SubscriptionTarget& target,
                                  const std::vector<Subscription>& existing,
                                  const PlanOptions& options);

/// Carries the plan out. A secret the provider issues is written first into
/// `secret_file`, the secrets already there kept after it (rotation). Throws
/// ApiError or std::runtime_error.
void ApplyPlan(ProviderApi& api, const SubscriptionPlan& plan, const std::string& secret_file,
               std::ostream& out);

/// Writes `secret` as the first line of `path`, keeping the other lines,
/// atomically and durably (files::WriteAtomically), mode 0600. A `path`
/// that is a symlink is refused.
void StoreIssuedSecret(const std::string& path, const std::string& secret);

/// One run of `subscriptions list|diff|apply`.
struct SubscriptionsRequest {
  std::string action;  // list, diff or apply
  std::string source;  // "" = every source; else provider, provider/name or name
  bool update_secret = false;
  RetryPolicy retry;
};

struct SubscriptionsResult {
  /// The worst of the sources' outcomes (kBadSelection: nothing was asked).
  SyncOutcome outcome = SyncOutcome::kDone;
};

/// Lists, compares or brings each selected source's subscription where it
/// should be. What it finds and does goes to `out`, problems to `err`.
SubscriptionsResult SyncSubscriptions(const Config& config, const SubscriptionsRequest& request,
                                      std::ostream& out, std::ostream& err);

/// One line per subscription, for `list` (never its secret).
std::string DescribeSubscription(const Subscription& s);
/// The plan's changes, one per line, for `diff` and `apply`.
std::string DescribePlan(const SubscriptionPlan& plan);

}  // namespace bridge

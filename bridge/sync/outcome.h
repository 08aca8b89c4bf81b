#pragma once

// How a use case through the provider APIs ended. The use cases return it;
// the commands map it to a process exit code.

namespace bridge {

/// Ordered by severity: of several sources' outcomes the greatest is the run's.
enum class SyncOutcome {
  kDone,
  kFailed,              // a runtime failure: the API or Kafka failed, retries used up
  kBadSelection,        // --source names no configured source, or several
  kCredentialsRefused,  // the provider refused the API key
  kNotConfigured,       // the configuration lacks what the run needs
};

}  // namespace bridge

#pragma once

// Where webhooks come from: one source per provider and name, with its
// secrets and options, and the table of them in force at run time.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace bridge {

/// Per-source authentication settings. `secrets` holds every currently valid
/// secret (rotation): any one verifies.
/// When a webhook is answered 2xx: after Kafka acknowledged it (default), or
/// after it was synced to the local durable spool (for providers that never
/// retry a failed delivery).
enum class AckMode { kKafka, kSpool };

struct SourceConfig {
  std::string provider;
  std::string name = "default";
  std::vector<std::string> secrets;
  std::vector<std::string> secret_files;  // where `secrets` came from (reloaded on change)
  bool allow_unsigned = false;
  std::chrono::seconds tolerance{180};
  AckMode ack = AckMode::kKafka;
  std::map<std::string, std::string> options;  // provider-specific settings
  /// The provider's API, for `subscriptions` and `reconcile`: its base URL
  /// (empty = the provider's public API) and a file holding the credential.
  std::string api_url;
  std::string api_key_file;
  /// Lets api_url be http:// to a host other than loopback (a trusted proxy).
  bool api_allow_http = false;
};

/// The sources in force, swappable at run time (secret rotation) while
/// requests read them. Thread-safe.
class SourceTable {
 public:
  explicit SourceTable(std::vector<SourceConfig> sources);
  /// The source, or nullptr. The result stays valid after a Replace().
  std::shared_ptr<const SourceConfig> Find(std::string_view provider, std::string_view name) const;
  void Replace(std::vector<SourceConfig> sources);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const std::vector<SourceConfig>> sources_;
};

}  // namespace bridge

#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "bridge/providers/provider.h"

namespace bridge {

/// Every provider schedbridge knows. Adding one is one file plus one line in
/// registry.cpp.
class ProviderRegistry {
 public:
  /// All built-in providers.
  static const ProviderRegistry& BuiltIn();

  const Provider* Find(std::string_view name) const;
  const std::vector<std::unique_ptr<Provider>>& all() const { return providers_; }

 private:
  std::vector<std::unique_ptr<Provider>> providers_;
};

// Factories, one per provider file.
std::unique_ptr<Provider> MakeCalcomProvider();
std::unique_ptr<Provider> MakeCalendlyProvider();
std::unique_ptr<Provider> MakeSavvyCalProvider();
std::unique_ptr<Provider> MakeOrufyProvider();

}  // namespace bridge

#include "bridge/providers/registry.h"

namespace bridge {

const ProviderRegistry& ProviderRegistry::BuiltIn() {
  static const ProviderRegistry registry = [] {
    ProviderRegistry r;
    r.providers_.push_back(MakeCalcomProvider());
    r.providers_.push_back(MakeCalendlyProvider());
    r.providers_.push_back(MakeSavvyCalProvider());
    r.providers_.push_back(MakeOrufyProvider());
    return r;
  }();
  return registry;
}

const Provider* ProviderRegistry::Find(std::string_view name) const {
  for (const auto& p : providers_) {
    if (p->Name() == name) return p.get();
  }
  return nullptr;
}

}  // namespace bridge

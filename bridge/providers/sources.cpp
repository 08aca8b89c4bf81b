#include "bridge/providers/sources.h"

#include <utility>

namespace bridge {

SourceTable::SourceTable(std::vector<SourceConfig> sources)
    : sources_(std::make_shared<const std::vector<SourceConfig>>(std::move(sources))) {}

std::shared_ptr<const SourceConfig> SourceTable::Find(std::string_view provider,
                                                      std::string_view name) const {
  std::shared_ptr<const std::vector<SourceConfig>> all;
  {
    std::lock_guard lock(mu_);
    all = sources_;
  }
  for (const SourceConfig& s : *all) {
    if (s.provider == provider && s.name == name) {
      return std::shared_ptr<const SourceConfig>(all, &s);  // keeps the whole table alive
    }
  }
  return nullptr;
}

void SourceTable::Replace(std::vector<SourceConfig> sources) {
  auto next = std::make_shared<const std::vector<SourceConfig>>(std::move(sources));
  std::lock_guard lock(mu_);
  sources_ = std::move(next);
}

size_t SourceTable::size() const {
  std::lock_guard lock(mu_);
  return sources_->size();
}

}  // namespace bridge

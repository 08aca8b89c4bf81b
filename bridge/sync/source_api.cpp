#include "bridge/sync/source_api.h"

#include <cctype>

#include "bridge/providers/registry.h"

namespace bridge {

std::string SourceName(const SourceConfig& s) { return s.provider + "/" + s.name; }

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
    list += (list.empty() ? "" : ", ") + SourceName(s);
    if (s.provider == selector) of_provider.push_back(&s);
    const bool match = selector.empty() || selector == SourceName(s) ||
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
    for (const SourceConfig* s : out) several += (several.empty() ? "" : ", ") + SourceName(*s);
    error = "--source " + selector + " names several sources (" + several +
            "); name one as provider/name.";
    out.clear();
  }
  return out;
}

bool OpenSourceApi(const SourceConfig& s, const RetryPolicy& retry, SourceApi& out,
                   std::ostream& err) {
  const Provider* normalizer = ProviderRegistry::BuiltIn().Find(s.provider);
  const std::string base = s.api_url.empty() ? DefaultApiUrl(s.provider) : s.api_url;
  if (normalizer == nullptr || base.empty()) {
    err << SourceName(s) << ": " << s.provider << " documents no API for this.\n";
    return false;
  }
  if (s.api_key_file.empty()) {
    std::string up = s.provider;
    for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    err << SourceName(s)
        << ": no API key: set api_key_file on the source (or SCHEDBRIDGE_API_KEY_FILE_" << up
        << " for the default source), a file holding the provider's API key.\n";
    return false;
  }
  std::string error = CheckApiUrl(base, s.api_allow_http);
  if (!error.empty()) {
    err << SourceName(s) << ": " << error << "\n";
    return false;
  }
  std::string key, warning;
  try {
    key = ReadApiKey(s.api_key_file, &warning);
  } catch (const std::exception& e) {
    err << SourceName(s) << ": " << e.what() << "\n";
    return false;
  }
  if (!warning.empty()) err << SourceName(s) << ": warning: " << warning << "\n";
  out.transport = MakeHttpTransport(base, std::chrono::seconds(30), error);
  if (!out.transport) {
    err << SourceName(s) << ": " << error << "\n";
    return false;
  }
  out.session = std::make_unique<ApiSession>(*out.transport, s.provider, "Bearer " + key, retry);
  out.api = MakeProviderApi(s.provider, *out.session, *normalizer);
  return true;
}

SyncOutcome ApiErrorOutcome(const ApiError& e) {
  return e.kind() == ApiError::Kind::kCredentials ? SyncOutcome::kCredentialsRefused
                                                  : SyncOutcome::kFailed;
}

}  // namespace bridge

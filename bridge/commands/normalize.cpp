#include "bridge/commands/normalize.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include "bridge/commands/common.h"
#include "bridge/model/time.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/providers/registry.h"

namespace bridge {

bool NormalizeBody(const Provider& provider, const std::string& source, const std::string& body,
                   const std::string& received_at, std::ostream& out) {
  Headers headers;
  headers.Add("Content-Type", "application/json");
  const Delivery delivery{body, &headers, {}};
  const NormalizeContext ctx{source, received_at};
  const NormalizeResult result = NormalizeSafely(provider, delivery, ctx);
  if (const auto* failure = std::get_if<NormalizeFailure>(&result)) {
    out << "dead-letter: " << failure->reason << ": " << failure->detail << "\n";
    return false;
  }
  for (const CanonicalEvent& e : std::get<std::vector<CanonicalEvent>>(result)) {
    out << ToJson(e) << "\n";
  }
  return true;
}

namespace {

struct NormalizeArgs {
  std::string provider, source = "default", file = "-";
};

int Normalize(const std::string& provider_name, const std::string& source,
              const std::string& file) {
  const Provider* provider = ProviderRegistry::BuiltIn().Find(provider_name);
  if (provider == nullptr) {
    std::cerr << "schedbridge: unknown provider \"" << provider_name << "\"\n";
    return kExitUsage;
  }
  std::string body;
  if (file == "-") {
    body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "schedbridge: cannot read " << file << "\n";
      return kExitUsage;
    }
    body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::ostringstream out;
  const bool ok = NormalizeBody(*provider, source, body,
                                FormatTimestamp(std::chrono::system_clock::now()), out);
  (ok ? std::cout : std::cerr) << out.str();
  return ok ? 0 : 1;
}

}  // namespace

Command AddNormalizeCommand(CLI::App& app) {
  auto a = std::make_shared<NormalizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "normalize",
      "Print the canonical event(s) for one raw body as JSON lines (no Kafka, no signature).");
  cmd->add_option("--provider", a->provider, "provider name")->required();
  cmd->add_option("--source", a->source, "source name");
  cmd->add_option("file", a->file, "body file, or - for stdin");
  return {cmd, [a] { return Normalize(a->provider, a->source, a->file); }};
}

}  // namespace bridge

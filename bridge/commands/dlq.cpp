#include "bridge/commands/dlq.h"

#include <fstream>
#include <iostream>
#include <memory>

#include "bridge/commands/common.h"
#include "bridge/commands/normalize.h"
#include "bridge/commands/records.h"
#include "bridge/kafka/topic_reader.h"
#include "bridge/providers/registry.h"

namespace bridge {
namespace {

/// `schedbridge dlq show|normalize`: dead-letter records, read from the topic
/// (filters as replay's) or from a file of records one per line (`--input`,
/// e.g. `kcat -C -e -t scheduling.dlq.v1 -f '%s\n'`).
int Dlq(ReplayFlags f, bool normalize, const std::string& input) {
  int exit_code = 0;
  std::optional<Config> config = PrepareRecordCommand(f, exit_code);
  if (!config) return exit_code;
  const ReplayOptions& o = f.options;
  std::string error;
  int64_t shown = 0, unreadable = 0, still_failing = 0;
  const auto one = [&](const std::string& value, int64_t timestamp_ms) {
    if ((o.since_ms && timestamp_ms >= 0 && timestamp_ms < *o.since_ms) ||
        (o.until_ms && timestamp_ms >= 0 && timestamp_ms > *o.until_ms)) {
      return;
    }
    std::string parse_error;
    std::optional<DeadLetterRecord> r = ParseDeadLetter(value, parse_error);
    if (!r) {
      ++unreadable;
      std::cerr << "not a dead-letter record: " << parse_error << "\n";
      return;
    }
    if (!MatchesFilters(*r, o)) return;
    ++shown;
    std::cout << (shown > 1 ? "\n" : "") << DescribeDeadLetter(*r);
    if (normalize) {
      const Provider* provider = ProviderRegistry::BuiltIn().Find(r->provider);
      std::cout << "normalized now:\n";
      if (provider == nullptr ||
          !NormalizeBody(*provider, r->source, r->body, r->received_at, std::cout)) {
        ++still_failing;
      }
    }
  };
  if (!input.empty()) {
    std::ifstream file;
    if (input != "-") {
      file.open(input, std::ios::binary);
      if (!file) {
        std::cerr << "schedbridge: cannot read " << input << "\n";
        return kExitUsage;
      }
    }
    std::istream& in = input == "-" ? std::cin : file;
    for (std::string line; (o.limit == 0 || shown < o.limit) && std::getline(in, line);) {
      if (!line.empty()) one(line, -1);
    }
  } else {
    auto reader = TopicReader::Create(config->kafka, o.from, "", error);
    if (!reader) {
      std::cerr << "schedbridge: " << error << "\n";
      return kExitRuntime;
    }
    while (o.limit == 0 || shown < o.limit) {
      std::optional<ConsumedRecord> record = reader->Next();
      if (!record) break;
      one(record->value, record->timestamp_ms);
    }
  }
  std::cerr << "dlq: " << shown << " record(s) shown";
  if (normalize) std::cerr << ", " << still_failing << " still failing with the current normalizer";
  std::cerr << ", " << unreadable << " unreadable\n";
  return 0;
}

struct DlqArgs {
  ReplayFlags flags;
  std::string input;
};

}  // namespace

Command AddDlqCommand(CLI::App& app) {
  auto a = std::make_shared<DlqArgs>();
  CLI::App* cmd = app.add_subcommand(
      "dlq", "Read dead-letter records: show them, or what the current normalizer makes of them.");
  cmd->require_subcommand(1);
  CLI::App* show = cmd->add_subcommand(
      "show",
      "Print each record: reason, provider, source, headers, and its body decoded "
      "(base64 too) and pretty-printed.");
  CLI::App* norm = cmd->add_subcommand(
      "normalize",
      "As show, then the current normalizer's events (JSON lines) or its dead-letter reason.");
  std::vector<CLI::Option*> from;
  for (CLI::App* c : {show, norm}) {
    from.push_back(c->add_option("--from", a->flags.options.from,
                                 "dead-letter topic (default SCHEDBRIDGE_TOPIC_DLQ)"));
    c->add_option("--input", a->input,
                  "read records from this file (one JSON record per line, - for stdin) "
                  "instead of Kafka");
    AddRecordOptions(c, a->flags);
  }
  return {cmd, [a, from, norm] {
            a->flags.from_set = from[0]->count() + from[1]->count() > 0;
            return Dlq(a->flags, norm->parsed(), a->input);
          }};
}

}  // namespace bridge

// Fuzz target: what the spool reads back from disk. The first byte picks
//   'J' — the rest is a journal segment file: opening the journal must never
//         crash, and every record it returns must check out;
//   anything else — the rest is a record payload: decoding must never crash,
//         and what decodes must encode back to the same bytes.

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "bridge/spool/spool.h"
#include "bridge/util/log.h"

namespace {

/// The fuzzer's scratch directory, removed when it exits.
struct Scratch {
  Scratch() {
    char tmpl[] = "/tmp/schedbridge-spool-fuzz-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    bridge::log::SetLevel(bridge::log::Level::kOff);
    dir = tmpl;
  }
  ~Scratch() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  std::string dir;
};

const std::string& ScratchDir() {
  static const Scratch scratch;
  return scratch.dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] != 'J') {
    bridge::SpoolRecord record;
    std::string error;
    if (bridge::DecodeSpoolRecord(rest, record, error)) {
      if (bridge::EncodeSpoolRecord(record) != rest) std::abort();
    } else if (error.empty()) {
      std::abort();
    }
    return 0;
  }
  const std::string& dir = ScratchDir();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/00000000000000000001.journal", std::ios::binary) << rest;
  // The journal streams what it reads: every record must check out when it is
  // read again through the cursor, in the same order, and a torn tail is cut off.
  std::vector<std::pair<bridge::JournalEntry, std::string>> entries;
  std::string error;
  auto journal = bridge::Journal::Open(
      dir, 1 << 20,
      [&](const bridge::JournalEntry& where, std::string_view payload) {
        entries.emplace_back(where, std::string(payload));
      },
      error);
  if (!journal) return 0;
  uint64_t offset = 0;
  for (const auto& [e, payload] : entries) {
    if (e.offset != offset || e.size != bridge::Journal::kHeaderBytes + payload.size()) {
      std::abort();
    }
    std::string again;
    bridge::JournalEntry where;
    if (!journal->Read(e, again, error) || again != payload) std::abort();
    if (!journal->ReadNext(journal->next_append(), where, again, error) || again != payload ||
        where.offset != e.offset) {
      std::abort();
    }
    offset += e.size;
  }
  if (journal->disk_bytes() != offset) std::abort();  // a torn tail is cut off
  return 0;
}

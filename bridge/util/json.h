#pragma once

// Tolerant readers over RapidJSON values: providers send extra, missing and
// null fields, and a wrong type must read as "absent", never crash.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace bridge::json {

using Value = rapidjson::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

/// Maximum nesting accepted from untrusted input. Deeper documents are rejected
/// by the parser (which is iterative, so depth never touches the C++ stack).
inline constexpr int kMaxDepth = 64;

struct ParseResult {
  bool ok = false;
  std::string error;  // one sentence, with the byte offset
};

/// Parses untrusted bytes: iterative, depth-bounded, and rejects invalid
/// UTF-8 inside strings.
ParseResult Parse(std::string_view bytes, rapidjson::Document& doc);

/// A Document whose values live in a 64 KiB arena of the calling thread when
/// that arena is free (one such document at a time per thread, the common
/// case), so parsing a webhook takes no heap allocation for its values; a
/// second one at the same time, or a larger body, falls back to the heap.
/// Parse() parses in place: the text is copied once into a buffer the
/// document holds (the thread's, with the arena) and its strings point into
/// it instead of being copied one by one. Values must not outlive it.
class ScratchDocument {
 public:
  ScratchDocument();
  ~ScratchDocument();
  ScratchDocument(const ScratchDocument&) = delete;
  ScratchDocument& operator=(const ScratchDocument&) = delete;
  rapidjson::Document& get() { return doc_; }

  /// As json::Parse, in place (same texts accepted, same errors).
  ParseResult Parse(std::string_view bytes);

 private:
  const bool borrowed_;
  rapidjson::MemoryPoolAllocator<> allocator_;
  rapidjson::Document doc_;
  std::string owned_text_;  // the text when the thread's buffer is not ours
};

/// Member `key` of `v` if `v` is an object and the member exists and is not null.
const Value* Get(const Value* v, std::string_view key);

/// Walks a dotted path ("payload.organizer.email").
const Value* Path(const Value* v, std::string_view dotted);

/// The value as a string when it is a non-empty string, or a number (written
/// in decimal). Everything else is absent.
std::optional<std::string> String(const Value* v);
std::optional<std::string> StringAt(const Value* v, std::string_view dotted);

std::optional<bool> Bool(const Value* v);
std::optional<int64_t> Int(const Value* v);

/// A Writer over a buffer the calling thread keeps between documents (one
/// at a time per thread; a nested one gets a buffer of its own). A fresh
/// StringBuffer starts at 256 bytes and grows by reallocation, and a fresh
/// Writer allocates its stack on the first object: several allocations and
/// copies for a 2 KB event. A buffer grown past 64 KiB is freed at the end,
/// so one large document does not stay with the thread.
class ScratchWriter {
 public:
  ScratchWriter();
  ~ScratchWriter();
  ScratchWriter(const ScratchWriter&) = delete;
  ScratchWriter& operator=(const ScratchWriter&) = delete;
  Writer& writer() { return slot_->writer; }
  /// What was written so far.
  std::string Text() const;

 private:
  struct Slot {
    rapidjson::StringBuffer buffer;
    Writer writer{buffer};
    bool in_use = false;
  };
  std::unique_ptr<Slot> own_;  // when the thread's slot is in use
  Slot* slot_;
};

/// The text `write(Writer&)` writes, through a ScratchWriter.
template <class Write>
std::string WriteString(Write&& write) {
  ScratchWriter scratch;
  write(scratch.writer());
  return scratch.Text();
}

/// Compact JSON text of a value (for raw sub-objects such as metadata).
std::string Serialize(const Value& v);

/// Valid UTF-8? (Used to decide between utf8 and base64 in dead-letter records.)
bool IsValidUtf8(std::string_view bytes);

}  // namespace bridge::json

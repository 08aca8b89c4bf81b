#include "bridge/util/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>

namespace bridge::json {
namespace {

/// RapidJSON 1.1.0 validates raw bytes but decodes a lone `\udc00`-style
/// escape into the 3-byte encoding of a surrogate (ED B0 80), which is not
/// UTF-8: strict consumers of our outputs would choke on it. Each such
/// sequence becomes U+FFFD (EF BF BD, the same length). nullopt when there is
/// none (the common case: no copy).
std::optional<std::string> WithoutSurrogates(const char* s, size_t n) {
  std::optional<std::string> out;
  const char* const end = s + n;
  // memchr finds the rare lead byte 0xED a word or vector at a time.
  for (const char* p = s; p + 2 < end;) {
    p = static_cast<const char*>(std::memchr(p, 0xED, static_cast<size_t>(end - p - 2)));
    if (p == nullptr) break;
    if (static_cast<unsigned char>(p[1]) < 0xA0) {
      ++p;
      continue;
    }
    if (!out) out.emplace(s, n);
    const size_t i = static_cast<size_t>(p - s);
    (*out)[i] = static_cast<char>(0xEF);
    (*out)[i + 1] = static_cast<char>(0xBF);
    (*out)[i + 2] = static_cast<char>(0xBD);
    p += 3;
  }
  return out;
}

// A SAX handler that forwards to the DOM builder and tracks depth, so a
// 100k-deep array is refused instead of building a huge tree.
class DepthLimitedHandler {
 public:
  /// `escapes_surrogates`: whether the text may hold a `\uD800`-`\uDFFF`
  /// escape; without one no string needs WithoutSurrogates' scan.
  DepthLimitedHandler(rapidjson::Document& doc, bool escapes_surrogates)
      : doc_(doc), escapes_surrogates_(escapes_surrogates) {}
  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(int64_t i) { return doc_.Int64(i); }
  bool Uint64(uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return doc_.RawNumber(s, n, copy);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    if (const auto fixed = escapes_surrogates_ ? WithoutSurrogates(s, n) : std::nullopt) {
      return doc_.String(fixed->data(), static_cast<rapidjson::SizeType>(fixed->size()), true);
    }
    return doc_.String(s, n, copy);
  }
  bool StartObject() { return ++depth_ <= kMaxDepth && doc_.StartObject(); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    if (const auto fixed = escapes_surrogates_ ? WithoutSurrogates(s, n) : std::nullopt) {
      return doc_.Key(fixed->data(), static_cast<rapidjson::SizeType>(fixed->size()), true);
    }
    return doc_.Key(s, n, copy);
  }
  bool EndObject(rapidjson::SizeType n) {
    --depth_;
    return doc_.EndObject(n);
  }
  bool StartArray() { return ++depth_ <= kMaxDepth && doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) {
    --depth_;
    return doc_.EndArray(n);
  }
  int depth() const { return depth_; }

 private:
  rapidjson::Document& doc_;
  const bool escapes_surrogates_;
  int depth_ = 0;
};

/// Whether `text` holds `\u` followed by `d` or `D` anywhere (an escaped
/// backslash before "ud" counts too: a false yes only costs the scan).
bool MayEscapeSurrogates(std::string_view text) {
  const char* const end = text.data() + text.size();
  for (const char* p = text.data(); p + 2 < end; ++p) {
    p = static_cast<const char*>(std::memchr(p, '\\', static_cast<size_t>(end - p - 2)));
    if (p == nullptr) return false;
    if (p[1] == 'u' && (p[2] == 'd' || p[2] == 'D')) return true;
  }
  return false;
}

}  // namespace

namespace {

struct Arena {
  static constexpr size_t kBytes = 64 << 10;
  alignas(16) char bytes[kBytes];
  bool in_use = false;
  std::string text;  // ScratchDocument::Parse's in-place copy, lent with the arena
};

/// Text buffers a thread keeps between parses stay under this; a larger
/// body is copied into a buffer of its parse or document, freed with it, so
/// one 1 MiB body does not leave a megabyte behind on a thread.
constexpr size_t kKeepText = 64 << 10;

/// Copies `bytes` into `text` for ParseText, with room after the terminator:
/// RapidJSON's SSE2 scans load 16 aligned bytes at a time and may read up to
/// 15 past the NUL. Within the allocation, those reads touch only our own
/// memory (ThreadSanitizer reported them past a string's end).
char* Terminated(std::string& text, std::string_view bytes) {
  text.reserve(bytes.size() + 16);
  text.assign(bytes.data(), bytes.size());
  return text.data();
}

Arena& ThreadArena() {
  thread_local Arena arena;
  return arena;
}

bool Borrow() {
  Arena& a = ThreadArena();
  if (a.in_use) return false;
  a.in_use = true;
  return true;
}

/// Offset of the first byte that is not part of valid UTF-8, or npos. With
/// kJsonText also of the first raw control byte other than tab, LF and CR
/// (NUL aside: it ends the text, as for every RapidJSON stream). JSON has
/// none anywhere, and RapidJSON 1.1.0's SSE2 string scan lets 0x1A-0x1F
/// through (it tests `max(b, 0x19) == 0x19`), so they are refused here.
template <bool kJsonText>
size_t FirstInvalidByte(std::string_view s);

/// Parses `text`, a NUL-terminated copy of `bytes`. On such a stream
/// RapidJSON scans strings and whitespace 16 bytes at a time (SSE2);
/// MemoryStream, which needs no terminator, is read a byte at a time. In
/// place (`kInsitu`), strings are unescaped where they are and the document
/// points into `text`, which must then outlive it.
template <bool kInsitu>
ParseResult ParseText(std::string_view bytes, char* text, rapidjson::Document& doc) {
  ParseResult result;
  doc.SetNull();
  // Encoding is checked over the whole text first, with FirstInvalidByte's
  // ASCII fast path, instead of by RapidJSON's kParseValidateEncodingFlag,
  // which decodes every string a byte at a time and turns its vector scan
  // off. Outside strings JSON is ASCII, so the texts accepted are the same.
  if (const size_t bad = FirstInvalidByte<true>(bytes); bad != std::string_view::npos) {
    const auto b = static_cast<unsigned char>(bytes[bad]);
    char buf[96];
    if (b < 0x20) {
      std::snprintf(buf, sizeof buf, "invalid JSON at offset %zu: control character 0x%02X", bad,
                    b);
    } else {
      std::snprintf(buf, sizeof buf, "invalid JSON at offset %zu: invalid UTF-8", bad);
    }
    result.error = buf;
    return result;
  }
  // No kParseFullPrecisionFlag: RapidJSON 1.1.0's full-precision path
  // crashes on numbers such as 0.000…0660e-320 (found by fuzzing; see
  // tests/fuzz/corpus/regressions). Ids are strings; doubles need no last ulp.
  // A NUL byte ends the text for every RapidJSON stream (MemoryStream too):
  // inside a string it is an error, after the value it ends the document.
  constexpr unsigned kFlags =
      rapidjson::kParseIterativeFlag | (kInsitu ? unsigned{rapidjson::kParseInsituFlag} : 0u);
  using Stream =
      std::conditional_t<kInsitu, rapidjson::InsituStringStream, rapidjson::StringStream>;
  Stream stream(text);
  rapidjson::Reader reader;
  int depth_reached = 0;
  rapidjson::ParseResult pr;
  // Populate() hands the document to us as a SAX sink and moves the finished
  // root into place only when the generator reports success.
  auto generator = [&](rapidjson::Document& d) {
    DepthLimitedHandler handler(d, MayEscapeSurrogates(bytes));
    pr = reader.Parse<kFlags>(stream, handler);
    depth_reached = handler.depth();
    return !pr.IsError();
  };
  doc.Populate(generator);
  if (pr.IsError()) {
    char buf[200];
    if (depth_reached > kMaxDepth) {
      std::snprintf(buf, sizeof buf, "JSON nested deeper than %d levels at offset %zu", kMaxDepth,
                    pr.Offset());
    } else {
      std::snprintf(buf, sizeof buf, "invalid JSON at offset %zu: %s", pr.Offset(),
                    rapidjson::GetParseError_En(pr.Code()));
    }
    result.error = buf;
    doc.SetNull();
    return result;
  }
  result.ok = true;
  return result;
}

}  // namespace

ScratchDocument::ScratchDocument()
    : borrowed_(Borrow()),
      allocator_(borrowed_ ? rapidjson::MemoryPoolAllocator<>(ThreadArena().bytes, Arena::kBytes)
                           : rapidjson::MemoryPoolAllocator<>()),
      doc_(&allocator_) {}

ScratchDocument::~ScratchDocument() {
  if (borrowed_) ThreadArena().in_use = false;
}

ParseResult ScratchDocument::Parse(std::string_view bytes) {
  std::string& text = borrowed_ && bytes.size() <= kKeepText ? ThreadArena().text : owned_text_;
  return ParseText<true>(bytes, Terminated(text, bytes), doc_);
}

ParseResult Parse(std::string_view bytes, rapidjson::Document& doc) {
  thread_local std::string scratch;
  std::string owned;
  std::string& text = bytes.size() <= kKeepText ? scratch : owned;
  return ParseText<false>(bytes, Terminated(text, bytes), doc);
}

const Value* Get(const Value* v, std::string_view key) {
  if (v == nullptr || !v->IsObject()) return nullptr;
  const auto it = v->FindMember(
      Value(rapidjson::StringRef(key.data(), static_cast<rapidjson::SizeType>(key.size()))));
  if (it == v->MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

const Value* Path(const Value* v, std::string_view dotted) {
  while (v != nullptr && !dotted.empty()) {
    const size_t dot = dotted.find('.');
    v = Get(v, dotted.substr(0, dot));
    dotted = dot == std::string_view::npos ? std::string_view() : dotted.substr(dot + 1);
  }
  return v;
}

std::optional<std::string> String(const Value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->IsString()) {
    if (v->GetStringLength() == 0) return std::nullopt;
    return std::string(v->GetString(), v->GetStringLength());
  }
  if (v->IsInt64()) return std::to_string(v->GetInt64());
  if (v->IsUint64()) return std::to_string(v->GetUint64());
  return std::nullopt;
}

std::optional<std::string> StringAt(const Value* v, std::string_view dotted) {
  return String(Path(v, dotted));
}

std::optional<bool> Bool(const Value* v) {
  if (v == nullptr || !v->IsBool()) return std::nullopt;
  return v->GetBool();
}

std::optional<int64_t> Int(const Value* v) {
  if (v == nullptr || !v->IsInt64()) return std::nullopt;
  return v->GetInt64();
}

ScratchWriter::ScratchWriter() {
  thread_local Slot slot;
  if (slot.in_use) {
    own_ = std::make_unique<Slot>();
    slot_ = own_.get();
    return;
  }
  slot.in_use = true;
  slot.buffer.Clear();
  // As a new Writer: Reset() keeps the decimal places a caller may have set.
  slot.writer.Reset(slot.buffer);
  slot.writer.SetMaxDecimalPlaces(Writer::kDefaultMaxDecimalPlaces);
  slot_ = &slot;
}

ScratchWriter::~ScratchWriter() {
  if (own_) return;
  // Capacity, not size: the Writer reserves six bytes per byte of a string
  // before writing it (room for \u escapes). A new buffer, not
  // ShrinkToFit(), which keeps a one-byte allocation that the next
  // documents would then grow from a byte at a time.
  if (slot_->buffer.stack_.GetCapacity() > kKeepText) slot_->buffer = rapidjson::StringBuffer();
  slot_->in_use = false;
}

std::string ScratchWriter::Text() const {
  return std::string(slot_->buffer.GetString(), slot_->buffer.GetSize());
}

std::string Serialize(const Value& v) {
  return WriteString([&v](Writer& w) { v.Accept(w); });
}

bool IsValidUtf8(std::string_view s) {
  return FirstInvalidByte<false>(s) == std::string_view::npos;
}

namespace {

template <bool kJsonText>
size_t FirstInvalidByte(std::string_view s) {
  constexpr uint64_t kHigh = 0x8080808080808080ULL, kSpace = 0x2020202020202020ULL;
  size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    // ASCII, the bulk of JSON, eight bytes at a time. For JSON text a word
    // with any byte under 0x20 (a newline, say) is looked at byte by byte:
    // for bytes under 0x80, (w - 0x20…) & ~w & 0x80… is non-zero exactly
    // when one of them is under 0x20.
    if (uint64_t word; i + 8 <= s.size()) {
      std::memcpy(&word, p + i, 8);
      if ((word & kHigh) == 0 && (!kJsonText || ((word - kSpace) & ~word & kHigh) == 0)) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = p[i];
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      if (kJsonText && c != 0 && c < 0x20 && c != '\t' && c != '\n' && c != '\r') return i;
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + n >= s.size()) return i;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and out-of-range code points.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return i;
    }
    i += n + 1;
  }
  return std::string_view::npos;
}

}  // namespace

}  // namespace bridge::json

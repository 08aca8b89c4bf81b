#include "bridge/http/framing.h"

#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <cctype>
#include <limits>

namespace bridge {

namespace http = boost::beast::http;

std::string_view TrimView(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// ---------------------------------------------------------------------------
// The request parser.

RequestParser::RequestParser(const HttpSettings& s, ByteBudget& budget)
    : max_headers_(s.max_headers),
      max_head_(s.max_head_bytes),
      max_body_(s.max_body_bytes),
      budget_(budget) {
  header_limit(static_cast<std::uint32_t>(s.max_head_bytes));
  // Checked by us, after routing. (Not boost::none: Beast 1.74 then refuses
  // every Content-Length, comparing it against an empty optional.)
  body_limit(std::numeric_limits<std::uint64_t>::max());
}

namespace {

/// Body buffers this thread's parsers gave back (RequestParser::RecycleBody).
std::vector<std::string>& SpareBodies() {
  thread_local std::vector<std::string> spares;
  return spares;
}

}  // namespace

RequestParser::~RequestParser() {
  budget_.Give(taken_);
  RecycleBody();
}

bool RequestParser::Reserve(size_t bytes) {
  if (!budget_.TryTake(bytes)) return false;
  taken_ += bytes;
  auto& spares = SpareBodies();
  if (body.capacity() < taken_ && body.empty() && taken_ <= kSpareBodyBytes && !spares.empty()) {
    body.swap(spares.back());
    spares.pop_back();
  }
  if (body.capacity() < taken_) {
    // Into a buffer of exactly what was taken: reserve() on a string in use
    // may round up to twice its capacity, past what the budget holds.
    std::string grown;
    grown.reserve(taken_);
    grown.append(body);
    body.swap(grown);
  }
  return true;
}

bool RequestParser::BudgetHasRoom(size_t bytes) const {
  return bytes <= budget_.capacity() - budget_.used();
}

size_t RequestParser::SpareBodiesHeld() { return SpareBodies().size(); }

void RequestParser::RecycleBody() {
  auto& spares = SpareBodies();
  const size_t capacity = body.capacity();
  if (capacity > std::string().capacity() && capacity <= kSpareBodyBytes &&
      spares.size() < kSpareBodies) {
    body.clear();
    spares.push_back(std::move(body));
  }
  std::string().swap(body);
}

void RequestParser::on_request_impl(http::verb m, string_view, string_view t, int v,
                                    error_code& ec) {
  version = v;
  if (t.size() > kMaxTargetBytes) {
    target_too_long = true;
    ec = http::error::bad_target;
    return;
  }
  method = m;
  target.assign(t.data(), t.size());
}

void RequestParser::on_field_impl(http::field, string_view name, string_view value,
                                  error_code& ec) {
  if (is_header_done()) return OnTrailerField(name, value, ec);
  if (fields.size() >= max_headers_) {
    limited = limit::kHeaders;
    ec = http::error::header_limit;
    return;
  }
  // One allocation for a usual head instead of one per doubling.
  if (fields.empty()) fields.reserve(std::min<size_t>(max_headers_, 16));
  fields.emplace_back(std::string(name.data(), name.size()),
                      std::string(value.data(), value.size()));
}

void RequestParser::on_chunk_header_impl(std::uint64_t, string_view extensions, error_code& ec) {
  // A line that arrived whole in one read; a partial one is bounded by the
  // read loop (PendingChunkOverLimit).
  if (extensions.size() > kMaxChunkLineBytes) {
    limited = limit::kChunkLine;
    ec = http::error::bad_chunk_extension;
  }
}

void RequestParser::OnTrailerField(string_view name, string_view value, error_code& ec) {
  trailer_bytes_ += name.size() + value.size() + 4;
  if (++trailer_fields_ > max_headers_ || trailer_bytes_ > max_head_) {
    limited = limit::kTrailerBytes;
    ec = http::error::header_limit;
  }
}

size_t RequestParser::TakeAndAppend(string_view data, error_code& ec) {
  // The budget is taken for bytes that arrived, never for bytes only
  // announced: a Content-Length alone holds nothing. It grows by doubling
  // (at most twice what the client sent, a few steps for a body in many
  // reads) up to the declared length, or the body limit when none is declared.
  const size_t need = body.size() + data.size();
  if (need > taken_ && need <= max_body_) {
    const auto length = content_length();  // none for a chunked body
    const size_t most = length ? static_cast<size_t>(*length) : max_body_;
    const size_t step = std::min(std::max(need - taken_, taken_), most - taken_);
    // When the doubled step does not fit, the bytes that came still may.
    if (!Reserve(step) && (step == need - taken_ || !Reserve(need - taken_))) {
      limited = limit::kBodyBudget;
      ec = http::error::body_limit;
      return 0;
    }
  }
  return Append(data, ec);
}

size_t RequestParser::Append(string_view data, error_code& ec) {
  if (body.size() + data.size() > max_body_) {
    limited = limit::kBodyBytes;
    ec = http::error::body_limit;
    return 0;
  }
  body.append(data.data(), data.size());
  return data.size();
}

// ---------------------------------------------------------------------------
// Framing checks.

TargetCheck CheckTarget(std::string_view head, size_t& scanned) {
  constexpr size_t kMethodMax = 32;
  const size_t method_end = head.substr(0, kMethodMax).find(' ');
  if (method_end == std::string_view::npos) {
    // Not a request line we could route: the parser answers it.
    return head.size() >= kMethodMax ? TargetCheck::kFine : TargetCheck::kUndecided;
  }
  const size_t start = method_end + 1;
  const size_t end = head.find_first_of(" \r\n", std::max(start, scanned));
  if (end != std::string_view::npos) {
    return end - start > kMaxTargetBytes ? TargetCheck::kTooLong : TargetCheck::kFine;
  }
  scanned = head.size();
  return head.size() - start > kMaxTargetBytes ? TargetCheck::kTooLong : TargetCheck::kUndecided;
}

bool HasObsFold(std::string_view head) {
  for (size_t i = head.find("\r\n"); i != std::string_view::npos; i = head.find("\r\n", i + 2)) {
    if (i + 2 < head.size() && (head[i + 2] == ' ' || head[i + 2] == '\t')) return true;
  }
  return false;
}

bool TransferEncodingAcceptable(const HeaderFields& fields) {
  std::vector<std::string_view> codings;
  for (const auto& [name, value] : fields) {
    if (!IEquals(name, "Transfer-Encoding")) continue;
    std::string_view rest = value;
    for (;;) {
      const size_t comma = rest.find(',');
      const std::string_view item = TrimView(rest.substr(0, comma));
      if (!item.empty()) codings.push_back(item);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return codings.size() == 1 && IEquals(codings.front(), "chunked");
}

const char* FramingError(const RequestParser& parser, bool obs_fold) {
  if (obs_fold) return "the request head has a folded header line (obs-fold).";
  bool te = false, length = false;
  for (const auto& [name, value] : parser.fields) {
    te = te || IEquals(name, "Transfer-Encoding");
    length = length || IEquals(name, "Content-Length");
  }
  if (!te) return nullptr;
  if (length) return "the request has both Transfer-Encoding and Content-Length.";
  // HTTP/1.0 has no transfer codings: a proxy may read the body otherwise.
  if (parser.version < 11) return "Transfer-Encoding in an HTTP/1.0 request.";
  if (!TransferEncodingAcceptable(parser.fields)) {
    return "Transfer-Encoding must be chunked (no other transfer coding is accepted).";
  }
  return nullptr;
}

const char* PendingChunkOverLimit(std::string_view pending, size_t max_head_bytes) {
  // The parser stopped at a chunk-size line (after the CRLF that ends the
  // previous chunk's data); a complete one it has not taken can only be the
  // last chunk's, waiting for the end of the trailer section.
  if (pending.substr(0, 2) == "\r\n") pending.remove_prefix(2);
  const size_t eol = pending.find("\r\n");
  if (eol == std::string_view::npos) {
    return pending.size() > kMaxChunkLineBytes ? limit::kChunkLine : nullptr;
  }
  return pending.size() - eol - 2 > max_head_bytes ? limit::kTrailerBytes : nullptr;
}

}  // namespace bridge

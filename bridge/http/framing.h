#pragma once

// Request framing: Beast's HTTP/1.1 parser with our limits and storage, and
// the checks that keep the body's length certain (no request smuggling).

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bridge/http/limits.h"
#include "bridge/http/settings.h"

namespace bridge {

/// A request's header fields, in the order they came.
using HeaderFields = std::vector<std::pair<std::string, std::string>>;

/// `s` without leading and trailing spaces and tabs.
std::string_view TrimView(std::string_view s);
/// ASCII case-insensitive equality.
bool IEquals(std::string_view a, std::string_view b);

/// The request parser: Beast's HTTP/1.1 parser, with our own limits and storage.
class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  RequestParser(const HttpSettings& s, ByteBudget& budget);
  ~RequestParser() override;

  /// Whether `bytes` more would fit in the shared budget now (nothing taken):
  /// a declared body that cannot is refused before it is read.
  bool BudgetHasRoom(size_t bytes) const;
  /// Empties the body and gives its storage back to the calling thread's
  /// spares (it was handed on, or the request ended). Webhook bodies are a
  /// few KiB, just over what malloc serves from its small-chunk bins: a fresh
  /// one per request sent malloc into `malloc_consolidate` every time. The
  /// spares are per thread and bounded (kSpareBodies of up to
  /// kSpareBodyBytes), and a connection between requests holds none.
  void RecycleBody();
  static constexpr size_t kSpareBodies = 8;
  static constexpr size_t kSpareBodyBytes = 16 << 10;
  /// How many spare buffers the calling thread holds.
  static size_t SpareBodiesHeld();

  boost::beast::http::verb method = boost::beast::http::verb::unknown;
  int version = 11;  // 10 for HTTP/1.0
  std::string target;
  HeaderFields fields;
  std::string body;
  // Which limit stopped the parse (the error code alone cannot say).
  const char* limited = nullptr;
  bool target_too_long = false;

 private:
  using error_code = boost::system::error_code;
  using string_view = boost::beast::string_view;

  void on_request_impl(boost::beast::http::verb m, string_view, string_view t, int v,
                       error_code& ec) override;
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(boost::beast::http::field, string_view name, string_view value,
                     error_code& ec) override;
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(string_view data, error_code& ec) override {
    return TakeAndAppend(data, ec);
  }
  void on_chunk_header_impl(std::uint64_t, string_view extensions, error_code& ec) override;
  std::size_t on_chunk_body_impl(std::uint64_t, string_view data, error_code& ec) override {
    return TakeAndAppend(data, ec);
  }
  void on_finish_impl(error_code&) override {}

  /// Trailer fields are counted against the head's limits and dropped: a
  /// trailer never stands in for a header (a signature, a content type).
  void OnTrailerField(string_view name, string_view value, error_code& ec);
  /// Takes budget for `data` (and the body's storage with it), then appends it.
  size_t TakeAndAppend(string_view data, error_code& ec);
  size_t Append(string_view data, error_code& ec);
  /// Takes `bytes` more from the budget and grows the body's storage to all
  /// it took; false when they do not fit.
  bool Reserve(size_t bytes);

  const size_t max_headers_;
  const size_t max_head_;
  const size_t max_body_;
  ByteBudget& budget_;
  size_t taken_ = 0;
  size_t trailer_bytes_ = 0, trailer_fields_ = 0;
};

/// Whether the start of a head shows a request target over kMaxTargetBytes,
/// judged as the bytes arrive (the parser sees the request line only once the
/// whole head is in), so that a long target is 414 even when it is longer
/// than the whole head may be. `scanned` carries how far earlier calls looked.
enum class TargetCheck { kUndecided, kFine, kTooLong };
TargetCheck CheckTarget(std::string_view head, size_t& scanned);

/// An obsolete line folding (a field value continued on the next line):
/// refused in a request head rather than unfolded, so no field means one
/// thing here and another to a proxy in front.
bool HasObsFold(std::string_view head);

/// Transfer-Encoding per RFC 9112 6.1 and 6.3: every field line of it is one
/// comma-separated list, and the only framing we accept is `chunked`, once,
/// last. Any other coding (gzip, identity, an unknown token), a folded or
/// otherwise malformed value leaves the body length unknown: false.
bool TransferEncodingAcceptable(const HeaderFields& fields);

/// Why the body's length is not certain (RFC 9112 6.3), or nullptr.
const char* FramingError(const RequestParser& parser, bool obs_fold);

/// A chunked body's bytes the parser keeps (it needs a chunk-size line or the
/// trailer section whole) are bounded: a chunk-size line by
/// kMaxChunkLineBytes, a trailer section by `max_head_bytes`. Returns the
/// limit passed, or nullptr.
const char* PendingChunkOverLimit(std::string_view pending, size_t max_head_bytes);

}  // namespace bridge

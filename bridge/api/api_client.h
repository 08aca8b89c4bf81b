#pragma once

// The providers' HTTP APIs, behind a small interface: a transport that sends
// one request (cpp-httplib in production, anything in tests), and a session
// that adds the credential, retries what may be retried (429 with
// Retry-After, 5xx, network errors) and turns the rest into ApiError.
//
// The API may be hostile, compromised or broken, or a man in the middle may
// answer for it: every answer is bounded in size (kMaxResponseBytes), every
// request in time (a deadline for the whole exchange, trickled body
// included), every run in time (RetryPolicy::run_deadline), and every list
// loop in pages (PageGuard: a cap, and a page or cursor seen before ends it).

#include <rapidjson/document.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace bridge {

/// The largest API answer read (a page of 100 bookings is well under 1 MiB);
/// a larger one, or a Content-Length announcing one, is refused unread.
constexpr size_t kMaxResponseBytes = 8u << 20;
/// What one run may read from an API in all (the sum of its answers): the
/// answers' contents are kept while a listing lasts, so this bounds a run's
/// memory under the CronJob's 256 MiB limit (a 10,000-booking run reads
/// about 30 MiB).
constexpr int64_t kMaxRunResponseBytes = int64_t{64} << 20;
/// One request, connect to last byte, at most this long (a trickled answer
/// ends here, not at the per-read timeout).
constexpr std::chrono::seconds kRequestDeadline{60};
/// A list loop (one listing: bookings of a window, subscriptions, one
/// event's invitees) reads at most this many pages.
constexpr int64_t kMaxPages = 10000;

struct HttpRequest {
  std::string method;  // GET, POST, PATCH, DELETE
  std::string target;  // path and query, e.g. /v2/webhooks?take=100
  std::string body;    // JSON, or empty
  std::vector<std::pair<std::string, std::string>> headers;
  /// Abandon the request at this instant (the run's deadline), if sooner
  /// than the transport's own per-request deadline.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

struct HttpResponse {
  int status = 0;  // 0 when no answer came (transport_error says why)
  std::string body;
  std::string retry_after;  // the Retry-After header, if any
  std::string transport_error;
  /// Set when the answer is refused for good (too large): never retried.
  std::string fatal_error;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual HttpResponse Send(const HttpRequest& request) = 0;
};

/// cpp-httplib (httplib_transport.cpp) on `base_url` (https://api.cal.com, or http://127.0.0.1:port
/// for a test server; a path in it prefixes every target). `timeout` bounds
/// connect and each read or write; `request_deadline` the whole exchange;
/// `max_body` the answer's size. nullptr with `error` set when the URL is
/// not usable.
std::unique_ptr<HttpTransport> MakeHttpTransport(
    const std::string& base_url, std::chrono::seconds timeout, std::string& error,
    std::chrono::milliseconds request_deadline = kRequestDeadline,
    size_t max_body = kMaxResponseBytes);

/// "" when `url` may carry an API key: https://, or http:// to a loopback
/// host (a test server, a local proxy) or with `allow_http`; else why not.
std::string CheckApiUrl(const std::string& url, bool allow_http);

/// Why a provider API call failed for good.
class ApiError : public std::runtime_error {
 public:
  enum class Kind {
    kCredentials,  // 401/403: the API key is wrong, expired or lacks a scope
    kFailed,       // retries used up, or a 4xx that no retry can fix
    kBadResponse,  // an answer we cannot read
  };
  ApiError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

struct RetryPolicy {
  int max_attempts = 6;                       // per request, the first included
  std::chrono::milliseconds max_wait{60000};  // one wait at most (Retry-After is capped to it)
  std::chrono::milliseconds first_backoff{500};
  /// The whole session (one source's run): no request starts, runs or waits
  /// past this long after the session was made.
  std::chrono::milliseconds run_deadline{std::chrono::minutes(10)};
  /// How to wait, and what time it is (for run_deadline); tests replace both.
  std::function<void(std::chrono::milliseconds)> sleep;
  std::function<std::chrono::steady_clock::time_point()> now;
};

/// Counters for one command run (printed in its summary and as metrics).
struct ApiStats {
  int64_t requests = 0;
  int64_t retries = 0;
  int64_t rate_limited = 0;   // 429 answers
  int64_t server_errors = 0;  // 5xx answers and network errors
  int64_t bytes = 0;          // answer bodies read
};

class ApiSession {
 public:
  /// `authorization` is the Authorization header's value ("Bearer …"); it is
  /// never logged or put in an error.
  ApiSession(HttpTransport& transport, std::string provider, std::string authorization,
             RetryPolicy policy = {});

  /// Sends the request, retrying 429/5xx/network failures, and returns a 2xx
  /// answer's parsed JSON (null for an empty body). Throws ApiError.
  rapidjson::Document Call(const std::string& method, const std::string& target,
                           const std::string& body = {},
                           std::vector<std::pair<std::string, std::string>> headers = {});

  const ApiStats& stats() const { return stats_; }
  const std::string& provider() const { return provider_; }

 private:
  HttpTransport& transport_;
  std::string provider_;
  std::string authorization_;
  RetryPolicy policy_;
  std::chrono::steady_clock::time_point deadline_;
  ApiStats stats_;
};

/// One list loop's guard: call Next() with the cursor (page token, skip,
/// cursor and skip...) before asking for each page, and Page() with the
/// items each page brought. Throws ApiError (kBadResponse) past kMaxPages,
/// when a cursor repeats, or when a non-empty page repeats one already seen
/// (an API that ignores its cursor): such a loop would never end.
class PageGuard {
 public:
  explicit PageGuard(std::string what, int64_t max_pages = kMaxPages);
  void Next(const std::string& cursor);
  void Page(const rapidjson::Value& items);
  int64_t pages() const { return pages_; }

 private:
  std::string what_;
  int64_t max_pages_;
  int64_t pages_ = 0;
  std::set<std::string> cursors_;
  std::set<std::pair<size_t, size_t>> contents_;  // (size, hash) of each page's items
};

/// An excerpt of a provider's answer that is safe to print and log: control
/// characters (terminal escapes) dropped, credentials (`Bearer …`, `key=…`,
/// `token=…`, `secret=…`, long hex/base64 runs, and `known` itself)
/// replaced by [redacted], at most `max` bytes.
std::string SafeExcerpt(const std::string& text, const std::string& known = {}, size_t max = 200);

/// The wait a Retry-After value asks for: seconds, or an HTTP date; nullopt
/// when absent or unreadable.
std::optional<std::chrono::milliseconds> ParseRetryAfter(const std::string& value,
                                                         std::chrono::system_clock::time_point now);

/// Percent-encodes a query parameter value.
std::string UrlEncode(const std::string& value);

/// Reads an API credential file: its first non-blank line, trimmed. Throws
/// std::runtime_error naming the file (never its content). `warning` (when
/// given) is set when group or others may read the file.
std::string ReadApiKey(const std::string& path, std::string* warning = nullptr);

}  // namespace bridge

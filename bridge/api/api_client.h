#pragma once

// The providers' HTTP APIs, behind a small interface: a transport that sends
// one request (cpp-httplib in production, anything in tests), and a session
// that adds the credential, retries what may be retried (429 with
// Retry-After, 5xx, network errors) and turns the rest into ApiError.

#include <rapidjson/document.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace bridge {

struct HttpRequest {
  std::string method;  // GET, POST, PATCH, DELETE
  std::string target;  // path and query, e.g. /v2/webhooks?take=100
  std::string body;    // JSON, or empty
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpResponse {
  int status = 0;  // 0 when no answer came (transport_error says why)
  std::string body;
  std::string retry_after;  // the Retry-After header, if any
  std::string transport_error;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual HttpResponse Send(const HttpRequest& request) = 0;
};

/// cpp-httplib on `base_url` (https://api.cal.com, or http://127.0.0.1:port
/// for a test server; a path in it prefixes every target). nullptr with
/// `error` set when the URL is not usable.
std::unique_ptr<HttpTransport> MakeHttpTransport(const std::string& base_url,
                                                 std::chrono::seconds timeout, std::string& error);

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
  /// How to wait; tests replace it.
  std::function<void(std::chrono::milliseconds)> sleep;
};

/// Counters for one command run (printed in its summary and as metrics).
struct ApiStats {
  int64_t requests = 0;
  int64_t retries = 0;
  int64_t rate_limited = 0;   // 429 answers
  int64_t server_errors = 0;  // 5xx answers and network errors
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
  ApiStats stats_;
};

/// The wait a Retry-After value asks for: seconds, or an HTTP date; nullopt
/// when absent or unreadable.
std::optional<std::chrono::milliseconds> ParseRetryAfter(const std::string& value,
                                                         std::chrono::system_clock::time_point now);

/// Percent-encodes a query parameter value.
std::string UrlEncode(const std::string& value);

/// Reads an API credential file: its first non-blank line, trimmed. Throws
/// std::runtime_error naming the file (never its content).
std::string ReadApiKey(const std::string& path);

}  // namespace bridge

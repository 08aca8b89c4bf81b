#include "bridge/api/api_client.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <fstream>
#include <optional>
#include <thread>

#include "bridge/util/json.h"
#include "bridge/util/log.h"

namespace bridge {
namespace {

class HttplibTransport final : public HttpTransport {
 public:
  HttplibTransport(const std::string& origin, std::string prefix, std::chrono::seconds timeout)
      : client_(origin), prefix_(std::move(prefix)) {
    client_.set_connection_timeout(timeout);
    client_.set_read_timeout(timeout);
    client_.set_write_timeout(timeout);
    client_.set_follow_location(false);
  }

  HttpResponse Send(const HttpRequest& request) override {
    httplib::Request req;
    req.method = request.method;
    req.path = prefix_ + request.target;
    for (const auto& [name, value] : request.headers) req.set_header(name, value);
    if (!request.body.empty()) {
      req.body = request.body;
      if (!req.has_header("Content-Type")) req.set_header("Content-Type", "application/json");
    }
    req.set_header("Accept", "application/json");
    HttpResponse out;
    httplib::Result result = client_.send(req);
    if (!result) {
      out.transport_error = httplib::to_string(result.error());
      return out;
    }
    out.status = result->status;
    out.body = std::move(result->body);
    out.retry_after = result->get_header_value("Retry-After");
    return out;
  }

 private:
  httplib::Client client_;
  std::string prefix_;
};

/// A short, safe excerpt of a provider's error answer.
std::string Excerpt(const std::string& body) {
  rapidjson::Document doc;
  if (json::Parse(body, doc).ok && doc.IsObject()) {
    for (const char* key : {"message", "error.message", "error", "title"}) {
      if (auto m = json::StringAt(&doc, key); m && !m->empty()) return m->substr(0, 200);
    }
  }
  std::string text = body.substr(0, 200);
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

}  // namespace

std::unique_ptr<HttpTransport> MakeHttpTransport(const std::string& base_url,
                                                 std::chrono::seconds timeout, std::string& error) {
  const size_t scheme = base_url.find("://");
  if (scheme == std::string::npos ||
      (base_url.compare(0, scheme, "https") != 0 && base_url.compare(0, scheme, "http") != 0)) {
    error = "the API URL " + base_url + " must start with https:// or http://";
    return nullptr;
  }
  const size_t path = base_url.find('/', scheme + 3);
  std::string origin = base_url.substr(0, path);
  std::string prefix = path == std::string::npos ? "" : base_url.substr(path);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return std::make_unique<HttplibTransport>(origin, prefix, timeout);
}

ApiSession::ApiSession(HttpTransport& transport, std::string provider, std::string authorization,
                       RetryPolicy policy)
    : transport_(transport),
      provider_(std::move(provider)),
      authorization_(std::move(authorization)),
      policy_(std::move(policy)) {
  if (!policy_.sleep) {
    policy_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  }
}

rapidjson::Document ApiSession::Call(const std::string& method, const std::string& target,
                                     const std::string& body,
                                     std::vector<std::pair<std::string, std::string>> headers) {
  HttpRequest request{method, target, body, std::move(headers)};
  request.headers.emplace_back("Authorization", authorization_);
  const std::string what = provider_ + " API " + method + " " + target.substr(0, target.find('?'));
  std::chrono::milliseconds backoff = policy_.first_backoff;
  for (int attempt = 1;; ++attempt) {
    ++stats_.requests;
    HttpResponse r = transport_.Send(request);
    if (r.status >= 200 && r.status < 300) {
      rapidjson::Document doc;
      if (r.body.empty()) return doc;
      if (!json::Parse(r.body, doc).ok) {
        throw ApiError(
            ApiError::Kind::kBadResponse,
            what + " answered " + std::to_string(r.status) + " with a body that is not JSON.");
      }
      return doc;
    }
    if (r.status == 401 || r.status == 403) {
      throw ApiError(ApiError::Kind::kCredentials,
                     what + " refused the API key (HTTP " + std::to_string(r.status) + ": " +
                         Excerpt(r.body) +
                         "). Check api_key_file: the key may be expired, revoked or lack a "
                         "scope.");
    }
    const bool retryable = r.status == 0 || r.status == 429 || r.status >= 500;
    if (!retryable) {
      throw ApiError(ApiError::Kind::kFailed,
                     what + " answered HTTP " + std::to_string(r.status) + ": " + Excerpt(r.body));
    }
    if (r.status == 429) {
      ++stats_.rate_limited;
    } else {
      ++stats_.server_errors;
    }
    const std::string failure = r.status == 0 ? "no answer (" + r.transport_error + ")"
                                              : "HTTP " + std::to_string(r.status);
    if (attempt >= policy_.max_attempts) {
      throw ApiError(ApiError::Kind::kFailed, what + " failed " + std::to_string(attempt) +
                                                  " times; last: " + failure + ".");
    }
    std::chrono::milliseconds wait = backoff;
    if (auto asked = ParseRetryAfter(r.retry_after, std::chrono::system_clock::now())) {
      wait = *asked;
    }
    wait = std::min(wait, policy_.max_wait);
    backoff = std::min(backoff * 2, policy_.max_wait);
    ++stats_.retries;
    log::Warn("provider_api_retry", {{"provider", provider_},
                                     {"request", method + " " + target.substr(0, target.find('?'))},
                                     {"failure", failure},
                                     {"attempt", attempt},
                                     {"wait_ms", static_cast<int64_t>(wait.count())}});
    policy_.sleep(wait);
  }
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(
    const std::string& value, std::chrono::system_clock::time_point now) {
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return std::chrono::milliseconds(999999999);
    return std::chrono::seconds(std::stoll(value));
  }
  std::tm tm{};
  const char* end = strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
  if (at <= now) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(at - now);
}

std::string UrlEncode(const std::string& value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string ReadApiKey(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the API key file " + path + ".");
  for (std::string line; std::getline(in, line);) {
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const size_t last = line.find_last_not_of(" \t\r");
    return line.substr(first, last - first + 1);
  }
  throw std::runtime_error("the API key file " + path + " is empty.");
}

}  // namespace bridge

#include "bridge/api/api_client.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <regex>
#include <thread>

#include "bridge/util/json.h"
#include "bridge/util/log.h"

namespace bridge {
namespace {

/// A short, safe excerpt of a provider's error answer.
std::string Excerpt(const std::string& body, const std::string& known) {
  rapidjson::Document doc;
  if (body.size() < 65536 && json::Parse(body, doc).ok && doc.IsObject()) {
    for (const char* key : {"message", "error.message", "error", "title"}) {
      if (auto m = json::StringAt(&doc, key); m && !m->empty()) return SafeExcerpt(*m, known);
    }
  }
  return SafeExcerpt(body, known);
}

/// The host of an http(s) URL, without brackets or port.
std::string UrlHost(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  std::string authority = url.substr(scheme + 3, url.find_first_of("/?#", scheme + 3) - scheme - 3);
  if (const size_t at = authority.rfind('@'); at != std::string::npos) {
    authority = authority.substr(at + 1);
  }
  if (!authority.empty() && authority.front() == '[') {
    return authority.substr(1, authority.find(']') - 1);
  }
  return authority.substr(0, authority.find(':'));
}

bool LoopbackHost(std::string host) {
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (host == "localhost" || host == "::1") return true;
  // 127.0.0.0/8, written as a dotted quad.
  static const std::regex v4(R"(127\.\d{1,3}\.\d{1,3}\.\d{1,3})");
  return std::regex_match(host, v4);
}

/// Control characters end up in a terminal or a log line: ESC starts an
/// escape sequence (CSI sequences are dropped whole), CR/LF forge lines.
std::string WithoutControls(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u == 0x1b) {
      if (i + 1 < s.size() && s[i + 1] == '[') {
        for (i += 2; i < s.size() && !(s[i] >= '@' && s[i] <= '~');) ++i;
      }
      continue;
    }
    out += u < 0x20 || u == 0x7f ? ' ' : s[i];
  }
  return out;
}

/// Hex, base64 and base64url characters: what keys and tokens are made of.
bool TokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '_' ||
         c == '=' || c == '-';
}

/// Where a labelled credential's value ends.
size_t ValueEnd(const std::string& s, size_t from) {
  const size_t end = s.find_first_of(" \"'&,;}", from);
  return end == std::string::npos ? s.size() : end;
}

/// A 2xx answer's JSON (null for an empty body). Throws ApiError.
rapidjson::Document ParseAnswer(const HttpResponse& r, const std::string& what) {
  rapidjson::Document doc;
  if (r.body.empty()) return doc;
  if (!json::Parse(r.body, doc).ok) {
    throw ApiError(ApiError::Kind::kBadResponse, what + " answered " + std::to_string(r.status) +
                                                     " with a body that is not JSON.");
  }
  return doc;
}

}  // namespace

std::string CheckApiUrl(const std::string& url, bool allow_http) {
  if (url.rfind("https://", 0) == 0) return {};
  if (url.rfind("http://", 0) != 0) return "the API URL " + url + " must start with https://.";
  if (allow_http || LoopbackHost(UrlHost(url))) return {};
  return "the API URL " + url +
         " is http://: the API key (and SavvyCal's issued secret) would travel in clear text. "
         "Use https://, or set api_allow_http on the source "
         "(SCHEDBRIDGE_API_ALLOW_HTTP_<PROVIDER>) "
         "for a trusted proxy; http:// to a loopback host is always allowed.";
}

ApiSession::ApiSession(HttpTransport& transport, std::string provider, std::string authorization,
                       RetryPolicy policy)
    : transport_(transport),
      provider_(std::move(provider)),
      authorization_(std::move(authorization)),
      policy_(std::move(policy)) {
  if (!policy_.now) policy_.now = [] { return std::chrono::steady_clock::now(); };
  deadline_ = policy_.now() + policy_.run_deadline;
  if (!policy_.sleep) {
    policy_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  }
}

rapidjson::Document ApiSession::Call(const std::string& method, const std::string& target,
                                     const std::string& body,
                                     std::vector<std::pair<std::string, std::string>> headers) {
  HttpRequest request{method, target, body, std::move(headers), std::nullopt};
  request.headers.emplace_back("Authorization", authorization_);
  const std::string what = provider_ + " API " + method + " " + target.substr(0, target.find('?'));
  const auto out_of_time = [&] {
    return ApiError(ApiError::Kind::kFailed,
                    what + ": the run's deadline (--deadline, " +
                        std::to_string(policy_.run_deadline.count() / 1000) + " s) passed after " +
                        std::to_string(stats_.requests) + " request(s).");
  };
  // The credential itself, to be struck from any excerpt that reflects it.
  const std::string key = authorization_.substr(authorization_.find(' ') + 1);
  std::chrono::milliseconds backoff = policy_.first_backoff;
  for (int attempt = 1;; ++attempt) {
    const auto left = deadline_ - policy_.now();
    if (left <= std::chrono::steady_clock::duration::zero()) throw out_of_time();
    request.deadline = std::chrono::steady_clock::now() + left;
    ++stats_.requests;
    HttpResponse r = transport_.Send(request);
    if (!r.fatal_error.empty()) {
      throw ApiError(ApiError::Kind::kBadResponse, what + " sent " + r.fatal_error + ".");
    }
    stats_.bytes += static_cast<int64_t>(r.body.size());
    if (stats_.bytes > kMaxRunResponseBytes) {
      throw ApiError(ApiError::Kind::kBadResponse,
                     what + ": the API's answers passed " +
                         std::to_string(kMaxRunResponseBytes >> 20) + " MiB in this run (" +
                         std::to_string(stats_.requests) +
                         " request(s)); narrow the window (--since, --until) if the listing "
                         "is real.");
    }
    if (r.status >= 200 && r.status < 300) return ParseAnswer(r, what);
    if (r.status == 401 || r.status == 403) {
      throw ApiError(ApiError::Kind::kCredentials,
                     what + " refused the API key (HTTP " + std::to_string(r.status) + ": " +
                         Excerpt(r.body, key) +
                         "). Check api_key_file: the key may be expired, revoked or lack a "
                         "scope.");
    }
    const bool retryable = r.status == 0 || r.status == 429 || r.status >= 500;
    if (!retryable) {
      throw ApiError(ApiError::Kind::kFailed, what + " answered HTTP " + std::to_string(r.status) +
                                                  ": " + Excerpt(r.body, key));
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
    if (policy_.now() + wait >= deadline_) throw out_of_time();
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
  // In seconds first: a date far in the future overflows the clock's
  // nanoseconds (and would read as no wait at all).
  const int64_t at_s = static_cast<int64_t>(timegm(&tm));
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (at_s <= now_s) return std::chrono::milliseconds(0);
  if (at_s - now_s > 999999) return std::chrono::milliseconds(999999999);
  return std::chrono::seconds(at_s - now_s);
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

std::string ReadApiKey(const std::string& path, std::string* warning) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the API key file " + path + ".");
  struct stat st {};
  if (warning != nullptr && ::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    *warning = "the API key file " + path + " may be read by group or others (mode " + mode +
               "); chmod 600 it, or set defaultMode 0400 on its Kubernetes Secret volume.";
  }
  for (std::string line; std::getline(in, line);) {
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const size_t last = line.find_last_not_of(" \t\r");
    return line.substr(first, last - first + 1);
  }
  throw std::runtime_error("the API key file " + path + " is empty.");
}

PageGuard::PageGuard(std::string what, int64_t max_pages)
    : what_(std::move(what)), max_pages_(max_pages) {}

void PageGuard::Next(const std::string& cursor) {
  if (++pages_ > max_pages_) {
    throw ApiError(ApiError::Kind::kBadResponse, what_ + ": more than " +
                                                     std::to_string(max_pages_) +
                                                     " pages; the API's paging never ends.");
  }
  if (!cursors_.insert(cursor).second) {
    throw ApiError(ApiError::Kind::kBadResponse,
                   what_ + ": the API sent a page cursor it had sent before (page " +
                       std::to_string(pages_) + "); its paging would never end.");
  }
}

void PageGuard::Page(const rapidjson::Value& items) {
  if (!items.IsArray() || items.Empty()) return;
  const std::string text = json::Serialize(items);
  if (!contents_.emplace(text.size(), std::hash<std::string>{}(text)).second) {
    throw ApiError(ApiError::Kind::kBadResponse,
                   what_ + ": the API sent page " + std::to_string(pages_) +
                       " again (the same items); its paging would never end.");
  }
}

std::string SafeExcerpt(const std::string& text, const std::string& known, size_t max) {
  constexpr const char* kRedacted = "[redacted]";
  // Controls go first: an escape sequence inside a reflected key must not hide
  // it from the search for the key and then vanish, leaving the key whole.
  std::string s = WithoutControls(text.substr(0, 4096));
  if (!known.empty()) {
    for (size_t at; (at = s.find(known)) != std::string::npos;)
      s.replace(at, known.size(), kRedacted);
  }
  std::string lower = s;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Credentials by their label: "Bearer x", "key=x", "\"secret\": \"x\"".
  std::vector<std::pair<size_t, size_t>> spans;  // [from, to) to redact
  for (const char* scheme : {"bearer ", "basic "}) {
    for (size_t at = lower.find(scheme); at != std::string::npos; at = lower.find(scheme, at + 1)) {
      const size_t from = lower.find_first_not_of(' ', at + std::strlen(scheme));
      if (from != std::string::npos) spans.emplace_back(from, ValueEnd(s, from));
    }
  }
  for (const char* label : {"key", "token", "secret", "password", "passwd", "signature", "sig",
                            "auth", "authorization", "code", "credential"}) {
    for (size_t at = lower.find(label); at != std::string::npos; at = lower.find(label, at + 1)) {
      size_t i = at + std::strlen(label);
      while (i < s.size() && (s[i] == '"' || s[i] == '\'' || s[i] == ' ')) ++i;
      if (i >= s.size() || (s[i] != '=' && s[i] != ':')) continue;
      ++i;
      while (i < s.size() && (s[i] == '"' || s[i] == '\'' || s[i] == ' ')) ++i;
      if (i < s.size()) spans.emplace_back(i, ValueEnd(s, i));
    }
  }
  // And by their look: a long run of hex or base64 characters.
  for (size_t i = 0; i < s.size();) {
    size_t j = i;
    while (j < s.size() && TokenChar(s[j])) ++j;
    if (j - i >= 24) spans.emplace_back(i, j);
    i = j == i ? i + 1 : j;
  }
  std::sort(spans.begin(), spans.end());
  std::string out;
  size_t at = 0;
  for (const auto& [from, to] : spans) {
    if (to <= at || from == to) continue;
    if (from > at) out.append(s, at, from - at);
    out += kRedacted;
    at = to;
  }
  out.append(s, std::min(at, s.size()), std::string::npos);
  if (out.size() > max) out.resize(max);
  return out;
}

}  // namespace bridge

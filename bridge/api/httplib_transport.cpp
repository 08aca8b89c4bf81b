// The cpp-httplib HttpTransport: the only file that speaks cpp-httplib for
// the provider APIs.

#include <httplib.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "bridge/api/api_client.h"

namespace bridge {
namespace {

class HttplibTransport final : public HttpTransport {
 public:
  HttplibTransport(const std::string& origin, std::string prefix, std::chrono::seconds timeout,
                   std::chrono::milliseconds request_deadline, size_t max_body)
      : client_(origin),
        prefix_(std::move(prefix)),
        request_deadline_(request_deadline),
        max_body_(max_body) {
    client_.set_connection_timeout(timeout);
    client_.set_read_timeout(timeout);
    client_.set_write_timeout(timeout);
    client_.set_follow_location(false);
  }

  HttpResponse Send(const HttpRequest& request) override {
    using Clock = std::chrono::steady_clock;
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
    Clock::time_point deadline = Clock::now() + request_deadline_;
    if (request.deadline && *request.deadline < deadline) deadline = *request.deadline;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      out.transport_error = "the deadline passed before the request was sent";
      return out;
    }
    // cpp-httplib bounds each wait for the socket by what is left of this,
    // counted from start_time_ (its Get() helpers set it; send() does not).
    client_.set_max_timeout(left);
    req.start_time_ = Clock::now();
    // Our own receiver: the body is appended within max_body_ (cpp-httplib's
    // default would first reserve whatever Content-Length announces), and a
    // body still arriving at the deadline is abandoned.
    std::string body;
    bool too_large = false, late = false;
    req.content_receiver = [&](const char* data, size_t n, size_t /*offset*/, size_t total) {
      if (total > max_body_ || n > max_body_ - body.size()) {
        too_large = true;
        return false;
      }
      if (Clock::now() >= deadline) {
        late = true;
        return false;
      }
      body.append(data, n);
      return true;
    };
    httplib::Result result = client_.send(req);
    if (too_large) {
      out.fatal_error = "an answer larger than " + std::to_string(max_body_) + " bytes";
      return out;
    }
    // cpp-httplib's own cut-off polls in whole milliseconds and may wake a
    // little before `deadline`: a failure that close to it is the deadline.
    if (late || (!result && Clock::now() + std::chrono::milliseconds(20) >= deadline)) {
      out.transport_error = "no complete answer within " + std::to_string(left.count()) + " ms";
      return out;
    }
    if (!result) {
      out.transport_error = httplib::to_string(result.error());
      return out;
    }
    out.status = result->status;
    out.body = std::move(body);
    out.retry_after = result->get_header_value("Retry-After");
    return out;
  }

 private:
  httplib::Client client_;
  std::string prefix_;
  std::chrono::milliseconds request_deadline_;
  size_t max_body_;
};

}  // namespace

std::unique_ptr<HttpTransport> MakeHttpTransport(const std::string& base_url,
                                                 std::chrono::seconds timeout, std::string& error,
                                                 std::chrono::milliseconds request_deadline,
                                                 size_t max_body) {
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
  return std::make_unique<HttplibTransport>(origin, prefix, timeout, request_deadline, max_body);
}

}  // namespace bridge

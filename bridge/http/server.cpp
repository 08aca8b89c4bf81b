#include "bridge/http/server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "bridge/util/json.h"
#include "bridge/util/log.h"

namespace bridge {
namespace {

constexpr const char* kWebhookRoute = R"(/webhooks/([^/]+)(?:/([^/]+))?/?)";

std::string Body(std::string_view status, const std::vector<std::string>& event_ids,
                 const std::string& error, const std::string& dead_letter_id = {}) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartObject();
  w.Key("status");
  w.String(status.data(), static_cast<rapidjson::SizeType>(status.size()));
  w.Key("event_ids");
  w.StartArray();
  for (const std::string& id : event_ids) w.String(id);
  w.EndArray();
  if (!dead_letter_id.empty()) {
    w.Key("dead_letter_id");
    w.String(dead_letter_id);
  }
  w.Key("error");
  if (error.empty()) {
    w.Null();
  } else {
    w.String(error);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string ErrorBody(std::string_view status, const std::string& error) {
  return Body(status, {}, error);
}

/// The status word and a default sentence for codes httplib answers by itself.
std::pair<const char*, const char*> DefaultError(int status) {
  switch (status) {
    case 400:
      return {"bad_request", "the request is malformed."};
    case 404:
      return {"not_found",
              "no such endpoint; webhooks go to POST /webhooks/{provider}[/{source}]."};
    case 405:
      return {"method_not_allowed", "webhooks accept POST only."};
    case 408:
      return {"timeout", "the request was not received in time."};
    case 413:
      return {"payload_too_large", "the body is over the size limit."};
    case 414:
      return {"uri_too_long", "the request URI is too long."};
    case 415:
      return {"unsupported_media_type", "this content type is not accepted."};
    case 503:
      return {"unavailable", "the service is unavailable; retry later."};
    default:
      return {"error", "the request failed."};
  }
}

std::string MediaType(const httplib::Request& req) {
  std::string ct = req.get_header_value("Content-Type");
  const size_t semi = ct.find(';');
  if (semi != std::string::npos) ct.resize(semi);
  return provider_util::Lower(provider_util::Trim(ct));
}

std::string ProviderList(const ProviderRegistry& providers) {
  std::string out;
  for (const auto& p : providers.all()) {
    if (!out.empty()) out += ", ";
    out += std::string(p->Name());
  }
  return out;
}

/// The caller's X-Request-Id when it is a sane token, else a fresh random one.
std::string RequestId(const httplib::Request& req) {
  const std::string given = req.get_header_value("X-Request-Id");
  const bool sane =
      !given.empty() && given.size() <= 128 && std::all_of(given.begin(), given.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
               c == ':';
      });
  if (sane) return given;
  thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

/// Bounded echo of a path segment in an error message.
std::string Quote(const std::string& s) {
  return "\"" + (s.size() > 64 ? s.substr(0, 64) + "..." : s) + "\"";
}

/// httplib's ThreadPool with a bounded queue: when `max_queued` connections
/// already wait for a thread, the acceptor blocks here instead of queueing
/// without limit, and new connections wait in the kernel's listen queue.
class BoundedThreadPool final : public httplib::TaskQueue {
 public:
  BoundedThreadPool(size_t threads, size_t max_queued) : max_queued_(max_queued) {
    for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mu_);
    space_.wait(lock, [&] { return jobs_.size() < max_queued_ || shutdown_; });
    jobs_.push_back(std::move(fn));
    lock.unlock();
    ready_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      shutdown_ = true;
    }
    ready_.notify_all();
    space_.notify_all();
    for (auto& t : workers_) t.join();
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mu_);
        ready_.wait(lock, [&] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;  // shut down and drained
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      space_.notify_one();
      fn();
    }
  }
  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable ready_, space_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;
  bool shutdown_ = false;
};

}  // namespace

void RaiseListenBacklog(int port, int backlog) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    int accepting = 0;
    socklen_t len = sizeof accepting;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || accepting == 0) {
      continue;
    }
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) continue;
    int bound = -1;
    if (addr.ss_family == AF_INET) {
      bound = ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      bound = ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
    }
    if (bound == port && ::listen(fd, backlog) != 0) {
      log::Warn("listen_backlog_unchanged", {{"error", std::strerror(errno)}});
    }
  }
}

IngressServer::IngressServer(const Config& config, const SourceTable& sources, Pipeline& pipeline,
                             const ProviderRegistry& providers, const Publisher& readiness,
                             Metrics& metrics)
    : config_(config),
      sources_(sources),
      pipeline_(pipeline),
      providers_(providers),
      readiness_check_([&readiness] {
        return readiness.Ready() ? std::string() : std::string("kafka_unavailable");
      }),
      metrics_(metrics),
      server_(config.http.tls_cert_file.empty()
                  ? std::make_unique<httplib::Server>()
                  : std::make_unique<httplib::SSLServer>(config.http.tls_cert_file.c_str(),
                                                         config.http.tls_key_file.c_str())) {
  httplib::Server& s = *server_;
  const auto threads = static_cast<size_t>(config.http.threads);
  const auto queued = static_cast<size_t>(config.http.max_queued_connections);
  s.new_task_queue = [threads, queued] { return new BoundedThreadPool(threads, queued); };
  // Without TCP_NODELAY every response waits ~40 ms for a delayed ACK.
  s.set_tcp_nodelay(true);
  s.set_payload_max_length(config.http.max_body_bytes);
  s.set_read_timeout(config.http.read_timeout);
  s.set_write_timeout(config.http.write_timeout);
  s.set_keep_alive_max_count(1000);
  // An idle keep-alive connection holds a thread: release it after the read timeout.
  s.set_keep_alive_timeout(std::max<time_t>(
      1, static_cast<time_t>(
             std::chrono::duration_cast<std::chrono::seconds>(config.http.read_timeout).count())));

  // The handler reads the body itself (ContentReader): routing and content
  // type are checked before any byte of it is read, and the size limit holds
  // for chunked bodies too, which this httplib would otherwise buffer unbounded.
  s.Post(kWebhookRoute,
         [this](const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader& read_body) { HandleWebhook(req, res, read_body); });
  auto not_allowed = [this](const httplib::Request&, httplib::Response& res) {
    res.set_header("Allow", "POST");
    Reply(res, 405, ErrorBody("method_not_allowed", "webhooks accept POST only."));
  };
  s.Get(kWebhookRoute, not_allowed);
  s.Put(kWebhookRoute, not_allowed);
  s.Patch(kWebhookRoute, not_allowed);
  s.Delete(kWebhookRoute, not_allowed);
  s.Options(kWebhookRoute, not_allowed);

  s.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    Reply(res, 200, R"({"status":"ok"})");
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    if (draining_ || stopping_) {
      Reply(res, 503, R"({"status":"draining"})");
    } else if (const std::string why =
                   [this] {
                     std::lock_guard lock(readiness_mu_);
                     return readiness_check_();
                   }();
               !why.empty()) {
      Reply(res, 503, "{\"status\":\"" + why + "\"}");
    } else {
      Reply(res, 200, R"({"status":"ready"})");
    }
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.Render(), "text/plain; version=0.0.4; charset=utf-8");
  });

  // Errors httplib produces itself (413, 400, unknown routes) get our JSON body.
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      const auto [status, sentence] = DefaultError(res.status);
      res.set_content(ErrorBody(status, sentence), "application/json");
    }
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content(ErrorBody("error", "internal error; the delivery was not accepted."),
                    "application/json");
  });

  metrics_.Describe("schedbridge_webhook_requests_total", "counter",
                    "Webhook requests by provider, source and HTTP status code.");
  metrics_.Describe("schedbridge_verification_failures_total", "counter",
                    "Webhooks rejected by authentication, by reason.");
  metrics_.Describe("schedbridge_events_published_total", "counter",
                    "Canonical events acknowledged by Kafka, by provider and event type.");
  metrics_.Describe("schedbridge_dead_letters_total", "counter",
                    "Deliveries written to the dead-letter topic, by reason.");
  metrics_.Describe("schedbridge_duplicates_total", "counter",
                    "Deliveries answered as duplicates and not published, by provider and the "
                    "replica that published the ids first.");
  metrics_.Describe("schedbridge_spooled_total", "counter",
                    "Deliveries of ack: spool sources stored in the durable spool, by provider.");
  metrics_.Describe("schedbridge_publish_failures_total", "counter",
                    "Webhooks answered 503 because Kafka did not acknowledge in time.");
  metrics_.DescribeHistogram(
      "schedbridge_webhook_duration_seconds",
      "Time from request to answer for webhooks, including the wait for the Kafka ack.",
      {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
}

IngressServer::~IngressServer() { Stop(); }

void IngressServer::SetReadinessCheck(ReadinessCheck check) {
  std::lock_guard lock(readiness_mu_);
  readiness_check_ = std::move(check);
}

int IngressServer::Bind(const std::string& host, int port) {
  const int bound =
      port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound > 0) RaiseListenBacklog(bound, config_.http.listen_backlog);
  return bound;
}

bool IngressServer::Serve() { return server_->listen_after_bind(); }

void IngressServer::Stop() {
  stopping_ = true;
  draining_ = true;
  server_->stop();
}

bool IngressServer::IsRunning() const { return server_->is_running(); }

bool IngressServer::Valid() const { return server_->is_valid(); }

void IngressServer::Reply(httplib::Response& res, int status, const std::string& json_body) const {
  res.status = status;
  res.set_content(json_body, "application/json");
}

void IngressServer::HandleWebhook(const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& read_body) {
  const auto started = std::chrono::steady_clock::now();
  const std::string provider_name = req.matches[1];
  const std::string source_name = req.matches[2].matched ? std::string(req.matches[2]) : "default";
  std::string outcome;
  std::vector<std::string> event_ids;

  const std::string request_id = RequestId(req);
  res.set_header("X-Request-Id", request_id);
  auto finish = [&](int status, const std::string& body) {
    Reply(res, status, body);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    metrics_.Observe("schedbridge_webhook_duration_seconds", {{"provider", provider_name}},
                     seconds);
    metrics_.Inc(
        "schedbridge_webhook_requests_total",
        {{"provider", provider_name}, {"source", source_name}, {"code", std::to_string(status)}});
    if (log::Enabled(log::Level::kInfo)) {
      std::string ids;
      for (const auto& id : event_ids) ids += (ids.empty() ? "" : ",") + id;
      const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count();
      log::Info("webhook", {{"request_id", request_id},
                            {"provider", provider_name},
                            {"source", source_name},
                            {"status", std::to_string(status)},
                            {"outcome", outcome},
                            {"event_ids", ids},
                            {"latency_ms", std::to_string(static_cast<double>(micros) / 1000.0)}});
    }
  };

  const size_t limit = config_.http.max_body_bytes;
  std::string body;
  bool body_read = false, too_large = false;
  // Reads the body once, up to the limit.
  const bool multipart = MediaType(req).rfind("multipart/", 0) == 0;
  auto read = [&]() -> bool {
    if (body_read) return !too_large;
    body_read = true;
    // httplib parses multipart bodies itself; no provider sends one, so it is
    // never read (the connection is closed after the answer instead).
    if (multipart) return false;
    bool complete = false;
    try {
      complete = read_body([&](const char* data, size_t n) {
        if (body.size() + n > limit) {
          too_large = true;
          return false;
        }
        body.append(data, n);
        return true;
      });
    } catch (const std::exception&) {
      complete = false;
    }
    // httplib refuses a declared Content-Length over the limit without reading.
    if (!complete && !too_large &&
        std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) > limit) {
      too_large = true;
    }
    return complete;
  };
  // An answer before the body was consumed: read what is left (bounded) so the
  // connection stays usable, else close it.
  auto early = [&](int status, const std::string& payload) {
    if (!read()) res.set_header("Connection", "close");
    finish(status, payload);
  };

  // 1. Route.
  const Provider* provider = providers_.Find(provider_name);
  if (provider == nullptr) {
    outcome = "unknown_provider";
    return early(
        404, ErrorBody("not_found", "unknown provider " + Quote(provider_name) +
                                        "; expected one of: " + ProviderList(providers_) + "."));
  }
  const std::shared_ptr<const SourceConfig> source = sources_.Find(provider_name, source_name);
  if (source == nullptr) {
    outcome = "unknown_source";
    return early(404, ErrorBody("not_found", "no source " + Quote(source_name) +
                                                 " is configured for " + provider_name + "."));
  }
  if (stopping_) {
    outcome = "draining";
    res.set_header("Retry-After", std::to_string(config_.http.retry_after_seconds));
    return early(503, ErrorBody("unavailable", "the service is shutting down; retry later."));
  }
  // 2. Framing: content type before the body, then the body within the limit.
  const std::string media_type = MediaType(req);
  if (!provider->AcceptsMediaType(media_type)) {
    outcome = "unsupported_media_type";
    return early(415,
                 ErrorBody("unsupported_media_type",
                           provider_name + " never sends Content-Type " + Quote(media_type) + "."));
  }
  if (!read()) {
    res.set_header("Connection", "close");
    if (too_large) {
      outcome = "payload_too_large";
      return finish(413, ErrorBody("payload_too_large", "the body is over the limit of " +
                                                            std::to_string(limit) + " bytes."));
    }
    outcome = "broken_body";
    return finish(400, ErrorBody("bad_request", "the request body could not be read completely."));
  }
  if (body.empty()) {
    outcome = "empty_body";
    return finish(400, ErrorBody("bad_request", "the request body is empty."));
  }

  // 3. Verify, normalize, publish.
  Headers headers;
  for (const auto& [k, v] : req.headers) headers.Add(k, v);
  Delivery delivery{body, &headers, {}};
  for (const auto& [k, v] : req.params) delivery.query.emplace(k, v);
  const IngestResult r = pipeline_.Ingest(*provider, *source, delivery);
  event_ids = r.event_ids;

  // 4. Answer.
  switch (r.verdict) {
    case Verdict::kAccepted:
      outcome = "accepted";
      for (const std::string& type : r.event_types) {
        metrics_.Inc("schedbridge_events_published_total",
                     {{"provider", provider_name}, {"event_type", type}});
      }
      return finish(202, Body("accepted", r.event_ids, {}));
    case Verdict::kDeadLettered:
      outcome = "dead_lettered:" + r.dead_letter_reason;
      metrics_.Inc("schedbridge_dead_letters_total",
                   {{"provider", provider_name}, {"reason", r.dead_letter_reason}});
      return finish(202, Body("dead_lettered", {}, r.error, r.dead_letter_id));
    case Verdict::kDuplicate:
      outcome = "duplicate";
      metrics_.Inc("schedbridge_duplicates_total",
                   {{"provider", provider_name},
                    {"published_by", r.duplicate_of.empty() ? "unknown" : r.duplicate_of}});
      return finish(200, Body("duplicate", r.event_ids, {}));
    case Verdict::kSpooled:
      outcome = r.dead_letter_reason.empty() ? "spooled" : "spooled:" + r.dead_letter_reason;
      metrics_.Inc("schedbridge_spooled_total", {{"provider", provider_name}});
      if (!r.dead_letter_reason.empty()) {
        metrics_.Inc("schedbridge_dead_letters_total",
                     {{"provider", provider_name}, {"reason", r.dead_letter_reason}});
      }
      return finish(202, Body("spooled", r.event_ids, r.dead_letter_reason.empty() ? "" : r.error,
                              r.dead_letter_id));
    case Verdict::kUnauthorized:
      outcome = "unauthorized:" + std::string(VerifyStatusCode(r.verify_status));
      metrics_.Inc("schedbridge_verification_failures_total",
                   {{"provider", provider_name},
                    {"reason", std::string(VerifyStatusCode(r.verify_status))}});
      return finish(401, ErrorBody("unauthorized", r.error));
    case Verdict::kUnavailable:
      outcome = "unavailable";
      metrics_.Inc("schedbridge_publish_failures_total", {{"provider", provider_name}});
      res.set_header("Retry-After", std::to_string(config_.http.retry_after_seconds));
      return finish(503, Body("unavailable", r.event_ids, r.error));
  }
}

}  // namespace bridge

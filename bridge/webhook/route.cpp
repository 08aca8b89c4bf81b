#include "bridge/webhook/route.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "bridge/http/answer.h"
#include "bridge/http/framing.h"
#include "bridge/util/log.h"

namespace bridge {

namespace http = boost::beast::http;

std::string ProviderLabel(const ProviderRegistry& providers, std::string_view name) {
  return providers.Find(std::string(name)) != nullptr ? std::string(name) : "unknown";
}

namespace {

/// The length of the valid UTF-8 sequence at the start of `s` that encodes a
/// printable character; 0 for a control character or an invalid sequence.
size_t PrintableUtf8(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x20 || c == 0x7f) return 0;
  if (c < 0x80) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i) & 0x3f);
  }
  const bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
  const bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
  const bool c1_control = cp >= 0x80 && cp < 0xa0;
  if (overlong || surrogate || c1_control || cp > 0x10ffff) return 0;
  return n;
}

/// Bounded echo of client bytes (a path segment, a media type) in an error
/// message: at most 64 bytes, control bytes and invalid UTF-8 replaced by
/// U+FFFD, so the JSON answer stays valid UTF-8 and one line.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size() && i < 64) {
    const size_t n = PrintableUtf8(s.substr(i));
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  if (i < s.size()) out += "...";
  return out + "\"";
}

std::string ProviderList(const ProviderRegistry& providers) {
  std::string out;
  for (const auto& p : providers.all()) {
    if (!out.empty()) out += ", ";
    out += std::string(p->Name());
  }
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// application/x-www-form-urlencoded decoding of one query component.
std::string Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && HexDigit(s[i + 1]) >= 0 &&
               HexDigit(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string key = Unescape(pair.substr(0, eq));
    std::string value =
        eq == std::string_view::npos ? std::string() : Unescape(pair.substr(eq + 1));
    out.emplace(std::move(key), std::move(value));  // the first occurrence wins
  }
  return out;
}

/// The webhook port's webhook metrics, one line each.
void DescribeMetrics(Metrics& metrics) {
  static constexpr std::pair<const char*, const char*> kCounters[] = {
      {"schedbridge_webhook_requests_total",
       "Webhook requests by provider, source and HTTP status code."},
      {"schedbridge_verification_failures_total",
       "Webhooks rejected by authentication, by reason."},
      {"schedbridge_events_published_total",
       "Canonical events acknowledged by Kafka, by provider and event type."},
      {"schedbridge_dead_letters_total", "Deliveries written to the dead-letter topic, by reason."},
      {"schedbridge_duplicates_total",
       "Deliveries answered as duplicates and not published, by provider and the replica that "
       "published the ids first."},
      {"schedbridge_spooled_total",
       "Deliveries of ack: spool sources stored in the durable spool, by provider."},
      {"schedbridge_publish_failures_total",
       "Webhooks answered 503 because Kafka did not acknowledge in time."},
  };
  for (const auto& [name, help] : kCounters) metrics.Describe(name, "counter", help);
  metrics.DescribeHistogram(
      "schedbridge_webhook_duration_seconds",
      "Time from request to answer for webhooks, including the wait for the Kafka ack.",
      {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
}

Answer NotFound() {
  return {404, ErrorBody("not_found",
                         "no such endpoint; webhooks go to POST "
                         "/webhooks/{provider}[/{source}].")};
}

}  // namespace

/// One webhook request: what it asked for, how it went (for the answer, the
/// metrics and the access log), and the pipeline call it waits on.
class WebhookExchange final : public Exchange,
                              public std::enable_shared_from_this<WebhookExchange> {
 public:
  WebhookExchange(WebhookRoute& route, const RequestHead& head, std::string_view provider,
                  std::string_view source)
      : route_(route),
        request_id_(head.request_id),
        started_(head.started),
        provider_name_(provider),
        source_name_(source),
        provider_label_(ProviderLabel(route.providers_, provider)) {}

  /// Finds the provider and the source: an answer (counted) when either is
  /// missing or the service is draining, else nullopt.
  std::optional<Answer> Find(const RequestHead& head);
  /// 405 for a method other than POST on a webhook path (counted and logged).
  Answer NotPost();

  std::optional<Answer> Admit(const RequestHead& head) override;
  std::optional<Answer> OnBody(std::string_view target, HeaderFields& fields, std::string_view body,
                               Responder later) override;
  std::optional<std::chrono::steady_clock::time_point> Deadline() const override {
    if (call_ && !call_->completed()) return call_->deadline();
    return std::nullopt;
  }
  void Expire() override {
    if (call_) call_->Expire();  // answers 503 through `later`
  }
  void Ended(int status, std::string_view outcome) override {
    if (!outcome.empty()) outcome_.assign(outcome);
    Count(status);
  }

 private:
  /// The pipeline's answer: the status, body and metrics of its verdict.
  Answer OnResult(IngestResult r);
  /// Counts and logs a webhook answer; returns it.
  Answer Webhook(Answer a) {
    Count(a.status);
    return a;
  }
  void Count(int status);

  WebhookRoute& route_;
  const std::string request_id_;
  const std::chrono::steady_clock::time_point started_;
  const std::string provider_name_, source_name_;
  const std::string provider_label_;
  std::string source_label_ = "unknown";  // until a configured source is found
  std::string outcome_;
  const Provider* provider_ = nullptr;
  std::shared_ptr<const SourceConfig> source_;
  std::shared_ptr<IngestCall> call_;
  std::vector<std::string> event_ids_;
  std::string detail_;  // for the log only (librdkafka's error...)
  std::string dead_letter_id_;
};

WebhookRoute::WebhookRoute(const SourceTable& sources, Pipeline& pipeline,
                           const ProviderRegistry& providers, Metrics& metrics)
    : sources_(sources),
      pipeline_(pipeline),
      providers_(providers),
      metrics_(metrics),
      provider_list_(ProviderList(providers)) {
  DescribeMetrics(metrics);
}

Routed WebhookRoute::Route(const RequestHead& head) {
  const std::string_view target = head.target;
  const std::string_view path = target.substr(0, target.find('?'));
  const bool get = head.method == http::verb::get || head.method == http::verb::head;
  if (path == "/healthz") {
    if (get) return {{200, R"({"status":"ok"})"}, nullptr};
    return {
        {405, ErrorBody("method_not_allowed", "/healthz accepts GET only."), false, "GET, HEAD"},
        nullptr};
  }
  constexpr std::string_view kPrefix = "/webhooks/";
  if (path.substr(0, kPrefix.size()) != kPrefix) return {NotFound(), nullptr};
  std::string_view rest = path.substr(kPrefix.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const size_t slash = rest.find('/');
  const std::string_view provider = rest.substr(0, slash);
  const std::string_view source =
      slash == std::string_view::npos ? std::string_view("default") : rest.substr(slash + 1);
  if (provider.empty() || source.empty() || source.find('/') != std::string_view::npos) {
    return {NotFound(), nullptr};
  }
  auto exchange = std::make_shared<WebhookExchange>(*this, head, provider, source);
  if (head.method != http::verb::post) return {exchange->NotPost(), nullptr};
  if (std::optional<Answer> refused = exchange->Find(head)) return {std::move(*refused), nullptr};
  return {{}, std::move(exchange)};
}

Answer WebhookExchange::NotPost() {
  outcome_ = "method_not_allowed";
  if (route_.sources_.Find(provider_name_, source_name_) != nullptr) source_label_ = source_name_;
  return Webhook(
      {405, ErrorBody("method_not_allowed", "webhooks accept POST only."), false, "POST"});
}

std::optional<Answer> WebhookExchange::Find(const RequestHead& head) {
  provider_ = route_.providers_.Find(provider_name_);
  if (provider_ == nullptr) {
    outcome_ = "unknown_provider";
    // The metric's label stays "unknown" (bounded); the log names what was asked for.
    detail_ = "unknown provider " + Quote(provider_name_) +
              "; expected one of: " + route_.provider_list_ + ".";
    return Webhook({404, ErrorBody("not_found", detail_)});
  }
  source_ = route_.sources_.Find(provider_name_, source_name_);
  if (source_ == nullptr) {
    outcome_ = "unknown_source";
    detail_ = "no source " + Quote(source_name_) + " is configured for " + provider_name_ + ".";
    return Webhook({404, ErrorBody("not_found", detail_)});
  }
  source_label_ = source_name_;
  if (head.draining) {
    outcome_ = "draining";
    return Webhook(
        {503, ErrorBody("unavailable", "the service is shutting down; retry later."), true});
  }
  return std::nullopt;
}

std::optional<Answer> WebhookExchange::Admit(const RequestHead& head) {
  std::string media_type;
  for (const auto& [name, value] : *head.fields) {
    if (IEquals(name, "Content-Type") && media_type.empty()) {
      std::string_view v = value;
      v = TrimView(v.substr(0, v.find(';')));
      media_type = provider_util::Lower(v);
    }
  }
  if (provider_->AcceptsMediaType(media_type)) return std::nullopt;
  outcome_ = "unsupported_media_type";
  return Webhook(
      {415, ErrorBody("unsupported_media_type",
                      provider_name_ + " never sends Content-Type " + Quote(media_type) + ".")});
}

std::optional<Answer> WebhookExchange::OnBody(std::string_view target, HeaderFields& fields,
                                              std::string_view body, Responder later) {
  if (body.empty()) {
    outcome_ = "empty_body";
    return Webhook({400, ErrorBody("bad_request", "the request body is empty.")});
  }
  Headers headers(std::move(fields));
  const size_t q = target.find('?');
  Delivery delivery{body, &headers,
                    q == std::string_view::npos ? std::map<std::string, std::string>()
                                                : ParseQuery(target.substr(q + 1))};
  // The answer is made on the connection's thread, if it still waits.
  std::weak_ptr<WebhookExchange> weak = weak_from_this();
  call_ = route_.pipeline_.IngestAsync(
      *provider_, *source_, delivery, [later = std::move(later), weak](IngestResult result) {
        later([weak, result = std::move(result)]() mutable {
          const auto self = weak.lock();
          return self ? self->OnResult(std::move(result)) : Answer{};
        });
      });
  return std::nullopt;
}

Answer WebhookExchange::OnResult(IngestResult r) {
  call_.reset();
  event_ids_ = std::move(r.event_ids);  // the answer below reads them from here
  dead_letter_id_ = std::move(r.dead_letter_id);
  // The log's detail: librdkafka's or the disk's words when there are any,
  // else the sentence the client got (a dead letter's reason, a 401's cause).
  detail_ = r.detail.empty() ? r.error : std::move(r.detail);
  Metrics& m = route_.metrics_;
  switch (r.verdict) {
    case Verdict::kAccepted:
      outcome_ = "accepted";
      for (const std::string& type : r.event_types) {
        m.Inc("schedbridge_events_published_total",
              {{"provider", provider_label_}, {"event_type", type}});
      }
      return Webhook({202, JsonBody("accepted", event_ids_, {})});
    case Verdict::kDeadLettered:
      outcome_ = "dead_lettered:" + r.dead_letter_reason;
      m.Inc("schedbridge_dead_letters_total",
            {{"provider", provider_label_}, {"reason", r.dead_letter_reason}});
      return Webhook({202, JsonBody("dead_lettered", {}, r.error, dead_letter_id_)});
    case Verdict::kDuplicate:
      outcome_ = "duplicate";
      m.Inc("schedbridge_duplicates_total",
            {{"provider", provider_label_},
             {"published_by", r.duplicate_of.empty() ? "unknown" : r.duplicate_of}});
      return Webhook({200, JsonBody("duplicate", event_ids_, {})});
    case Verdict::kSpooled:
      outcome_ = r.dead_letter_reason.empty() ? "spooled" : "spooled:" + r.dead_letter_reason;
      m.Inc("schedbridge_spooled_total", {{"provider", provider_label_}});
      if (!r.dead_letter_reason.empty()) {
        m.Inc("schedbridge_dead_letters_total",
              {{"provider", provider_label_}, {"reason", r.dead_letter_reason}});
      }
      return Webhook({202, JsonBody("spooled", event_ids_,
                                    r.dead_letter_reason.empty() ? "" : r.error, dead_letter_id_)});
    case Verdict::kUnauthorized: {
      const std::string code(VerifyStatusCode(r.verify_status));
      outcome_ = "unauthorized:" + code;
      m.Inc("schedbridge_verification_failures_total",
            {{"provider", provider_label_}, {"reason", code}});
      return Webhook({401, ErrorBody("unauthorized", r.error)});
    }
    case Verdict::kTooLarge:
      outcome_ = "too_large";
      return Webhook({413, ErrorBody("payload_too_large", r.error)});
    case Verdict::kUnavailable:
      outcome_ = "unavailable";
      m.Inc("schedbridge_publish_failures_total", {{"provider", provider_label_}});
      return Webhook({503, JsonBody("unavailable", event_ids_, r.error), true});
  }
  return Webhook({503, JsonBody("unavailable", event_ids_, r.error), true});
}

void WebhookExchange::Count(int status) {
  Metrics& m = route_.metrics_;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  m.Observe("schedbridge_webhook_duration_seconds", {{"provider", provider_label_}}, seconds);
  m.Inc(
      "schedbridge_webhook_requests_total",
      {{"provider", provider_label_}, {"source", source_label_}, {"code", std::to_string(status)}});
  if (log::Enabled(log::Level::kInfo)) {
    log::Info("webhook", {{"request_id", request_id_},
                          {"provider", provider_label_},
                          {"source", source_label_},
                          {"status", status},
                          {"outcome", outcome_},
                          {"event_ids", event_ids_},
                          {"dead_letter_id", dead_letter_id_},
                          {"detail", detail_},
                          {"latency_ms", seconds * 1000.0}});
  }
}

}  // namespace bridge

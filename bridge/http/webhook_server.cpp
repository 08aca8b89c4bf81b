#include "bridge/http/webhook_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <cstdio>
#include <limits>
#include <optional>
#include <random>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "bridge/http/listen.h"
#include "bridge/util/json.h"
#include "bridge/util/log.h"
#include "bridge/util/thread_name.h"

namespace bridge {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// ---------------------------------------------------------------------------
// Limits shared by every connection.

bool ByteBudget::TryTake(size_t n) {
  size_t used = used_.load(std::memory_order_relaxed);
  do {
    if (n > capacity_ || used > capacity_ - n) return false;
  } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
  return true;
}

ConnectionLimiter::Admission ConnectionLimiter::Admit(const std::string& address) {
  std::lock_guard lock(mu_);
  if (open_ >= max_total_) return Admission::kTooManyInAll;
  size_t& mine = per_address_[address];
  if (max_per_address_ != 0 && mine >= max_per_address_) {
    if (mine == 0) per_address_.erase(address);
    return Admission::kTooManyFromAddress;
  }
  ++mine;
  ++open_;
  return Admission::kAdmitted;
}

void ConnectionLimiter::Release(const std::string& address) {
  std::lock_guard lock(mu_);
  auto it = per_address_.find(address);
  if (it == per_address_.end()) return;
  if (--it->second == 0) per_address_.erase(it);
  --open_;
}

size_t ConnectionLimiter::open() const {
  std::lock_guard lock(mu_);
  return open_;
}

uint64_t RaiseOpenFileLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  if (r.rlim_cur < r.rlim_max) {
    rlimit raised = r;
    raised.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) r = raised;
  }
  return static_cast<uint64_t>(r.rlim_cur);
}

std::string ProviderLabel(const ProviderRegistry& providers, std::string_view name) {
  return providers.Find(std::string(name)) != nullptr ? std::string(name) : "unknown";
}

namespace {

// ---------------------------------------------------------------------------
// Answers.

/// Why a request was cut short: the `limit` label of schedbridge_http_limited_total.
namespace limit {
constexpr const char* kHeadTimeout = "head_timeout";
constexpr const char* kBodyTimeout = "body_timeout";
constexpr const char* kIdleTimeout = "idle_timeout";
constexpr const char* kWriteTimeout = "write_timeout";
constexpr const char* kHeaders = "headers";
constexpr const char* kHeadBytes = "head_bytes";
constexpr const char* kBodyBytes = "body_bytes";
constexpr const char* kBodyBudget = "body_budget";
constexpr const char* kChunkLine = "chunk_line";
constexpr const char* kTrailerBytes = "trailer_bytes";
constexpr const char* kTarget = "target_bytes";
constexpr const char* kConnections = "connections";
constexpr const char* kConnectionsPerAddress = "connections_per_address";
constexpr const char* kAll[] = {
    kHeadTimeout, kBodyTimeout, kIdleTimeout,          kWriteTimeout, kHeaders,
    kHeadBytes,   kBodyBytes,   kBodyBudget,           kChunkLine,    kTrailerBytes,
    kTarget,      kConnections, kConnectionsPerAddress};
}  // namespace limit

constexpr size_t kMaxTargetBytes = 8192;  // 414 above
/// A chunk-size line with its extensions (which we ignore): the parser keeps
/// it whole until its CRLF, so it is bounded on its own.
constexpr size_t kMaxChunkLineBytes = 4096;
constexpr size_t kReadChunk = 64 << 10;
/// After an answer that leaves a body unread: how long and how much the
/// client may still send before the close (so it reads the answer, not a reset).
constexpr auto kLingerTime = std::chrono::milliseconds(2000);
constexpr size_t kLingerBytes = 4 << 20;

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

bool SaneRequestId(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == ':';
  });
}

std::string NewRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
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
// The request parser: Beast's HTTP/1.1 parser, with our own limits and storage.

class RequestParser final : public http::basic_parser<true> {
 public:
  RequestParser(const HttpSettings& s, ByteBudget& budget)
      : max_headers_(s.max_headers),
        max_head_(s.max_head_bytes),
        max_body_(s.max_body_bytes),
        budget_(budget) {
    header_limit(static_cast<std::uint32_t>(s.max_head_bytes));
    // Checked by us, after routing. (Not boost::none: Beast 1.74 then refuses
    // every Content-Length, comparing it against an empty optional.)
    body_limit(std::numeric_limits<std::uint64_t>::max());
  }
  ~RequestParser() override { budget_.Give(taken_); }

  /// Takes the whole declared body from the budget; false when it does not fit.
  bool Reserve(size_t bytes) {
    if (!budget_.TryTake(bytes)) return false;
    taken_ += bytes;
    body.reserve(bytes);
    return true;
  }
  /// Returns what the body holds to the budget early (it was handed on).
  void ReleaseBody() {
    budget_.Give(taken_);
    taken_ = 0;
    std::string().swap(body);
  }

  http::verb method = http::verb::unknown;
  int version = 11;  // 10 for HTTP/1.0
  std::string target;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string body;
  // Which limit stopped the parse (the error code alone cannot say).
  const char* limited = nullptr;
  bool target_too_long = false;

 private:
  void on_request_impl(http::verb m, boost::beast::string_view, boost::beast::string_view t, int v,
                       error_code& ec) override {
    version = v;
    if (t.size() > kMaxTargetBytes) {
      target_too_long = true;
      ec = http::error::bad_target;
      return;
    }
    method = m;
    target.assign(t.data(), t.size());
  }
  void on_response_impl(int, boost::beast::string_view, int, error_code&) override {}
  void on_field_impl(http::field, boost::beast::string_view name, boost::beast::string_view value,
                     error_code& ec) override {
    if (is_header_done()) return OnTrailerField(name, value, ec);
    if (fields.size() >= max_headers_) {
      limited = limit::kHeaders;
      ec = http::error::header_limit;
      return;
    }
    fields.emplace_back(std::string(name.data(), name.size()),
                        std::string(value.data(), value.size()));
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(boost::beast::string_view data, error_code& ec) override {
    return Append(data, ec);
  }
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view extensions,
                            error_code& ec) override {
    // A line that arrived whole in one read; a partial one is bounded by the
    // read loop (PendingOverLimit).
    if (extensions.size() > kMaxChunkLineBytes) {
      limited = limit::kChunkLine;
      ec = http::error::bad_chunk_extension;
    }
  }
  /// Trailer fields are counted against the head's limits and dropped: a
  /// trailer never stands in for a header (a signature, a content type).
  void OnTrailerField(boost::beast::string_view name, boost::beast::string_view value,
                      error_code& ec) {
    trailer_bytes_ += name.size() + value.size() + 4;
    if (++trailer_fields_ > max_headers_ || trailer_bytes_ > max_head_) {
      limited = limit::kTrailerBytes;
      ec = http::error::header_limit;
    }
  }
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view data,
                                 error_code& ec) override {
    // A chunked body's size is unknown up front: budget taken as it arrives.
    if (body.size() + data.size() > taken_) {
      const size_t more = std::max<size_t>(body.size() + data.size() - taken_, 16 << 10);
      if (body.size() + data.size() <= max_body_ && !Reserve(more)) {
        limited = limit::kBodyBudget;
        ec = http::error::body_limit;
        return 0;
      }
    }
    return Append(data, ec);
  }
  void on_finish_impl(error_code&) override {}

  size_t Append(boost::beast::string_view data, error_code& ec) {
    if (body.size() + data.size() > max_body_) {
      limited = limit::kBodyBytes;
      ec = http::error::body_limit;
      return 0;
    }
    body.append(data.data(), data.size());
    return data.size();
  }

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

/// An obsolete line folding (a field value continued on the next line):
/// refused in a request head rather than unfolded, so no field means one
/// thing here and another to a proxy in front.
bool HasObsFold(std::string_view head) {
  for (size_t i = head.find("\r\n"); i != std::string_view::npos; i = head.find("\r\n", i + 2)) {
    if (i + 2 < head.size() && (head[i + 2] == ' ' || head[i + 2] == '\t')) return true;
  }
  return false;
}

/// Transfer-Encoding per RFC 9112 6.1 and 6.3: every field line of it is one
/// comma-separated list, and the only framing we accept is `chunked`, once,
/// last. Any other coding (gzip, identity, an unknown token), a folded or
/// otherwise malformed value leaves the body length unknown: false.
bool TransferEncodingAcceptable(const std::vector<std::pair<std::string, std::string>>& fields) {
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

}  // namespace

const std::vector<std::string>& WebhookLimitNames() {
  static const std::vector<std::string> names(std::begin(limit::kAll), std::end(limit::kAll));
  return names;
}

namespace {

// ---------------------------------------------------------------------------
// Server state shared by every connection (outlives the server while any
// connection or completion still refers to it).

struct Shared {
  Shared(const Config& c, const SourceTable& s, Pipeline& p, const ProviderRegistry& r, Metrics& m)
      : settings(c.http),
        sources(s),
        pipeline(p),
        providers(r),
        metrics(m),
        provider_list(ProviderList(r)),
        limiter(c.http.max_connections, c.http.max_connections_per_address),
        budget(c.http.body_budget_bytes) {}
  const HttpSettings settings;
  const SourceTable& sources;
  Pipeline& pipeline;
  const ProviderRegistry& providers;
  Metrics& metrics;
  const std::string provider_list;
  ConnectionLimiter limiter;
  ByteBudget budget;
  std::atomic<bool> stopping{false};
  /// The TLS context for new connections (replaced when the certificate is
  /// reloaded; a connection's SSL object keeps its own context alive).
  std::shared_ptr<asio::ssl::context> TlsContext() const {
    std::lock_guard lock(tls_mu);
    return tls;
  }
  void SetTlsContext(std::shared_ptr<asio::ssl::context> next) {
    std::lock_guard lock(tls_mu);
    tls = std::move(next);
  }
  mutable std::mutex tls_mu;
  std::shared_ptr<asio::ssl::context> tls;

  void Limited(const char* what) {
    metrics.Inc("schedbridge_http_limited_total", {{"limit", what}});
  }
};

using Clock = std::chrono::steady_clock;

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  /// The server is stopping: close when idle or still receiving a head, else
  /// after the answer.
  virtual void OnStop() = 0;
  /// The deadline of the current phase passed.
  virtual void OnTimeout() = 0;
  /// The pipeline's answer to the request this connection waits on.
  virtual void OnAnswer(IngestResult result) = 0;
  /// When the current phase ends (head, body, ack, write, idle), checked by
  /// the I/O thread's sweep: no timer operation per request.
  Clock::time_point deadline = Clock::time_point::max();
};

/// How often each I/O thread looks for connections past their deadline: the
/// precision of every timeout (they fire up to this late, never early).
constexpr auto kSweepInterval = std::chrono::milliseconds(100);

/// One I/O thread's io_context and the connections it owns.
struct ThreadContext : std::enable_shared_from_this<ThreadContext> {
  // Declared before `io` and `inbox`: connections destroyed with them
  // unregister here.
  std::unordered_set<ConnectionBase*> connections;
  // Pipeline answers from other threads (Kafka delivery reports), handed over
  // in batches: one post, and at most one wake-up of this thread, carries
  // every answer that arrived meanwhile.
  std::mutex inbox_mu;
  std::vector<std::pair<std::shared_ptr<ConnectionBase>, IngestResult>> inbox;
  asio::io_context io{1};
  asio::steady_timer sweep{io};
  std::thread thread;

  /// Any thread: queues an answer for a connection this thread owns.
  void Deliver(std::shared_ptr<ConnectionBase> connection, IngestResult result) {
    bool first = false;
    {
      std::lock_guard lock(inbox_mu);
      first = inbox.empty();
      inbox.emplace_back(std::move(connection), std::move(result));
    }
    if (first) asio::post(io, [this] { DrainInbox(); });
  }

  void DrainInbox() {
    std::vector<std::pair<std::shared_ptr<ConnectionBase>, IngestResult>> batch;
    {
      std::lock_guard lock(inbox_mu);
      batch.swap(inbox);
    }
    for (auto& [connection, result] : batch) connection->OnAnswer(std::move(result));
  }

  void Sweep() {
    sweep.expires_after(kSweepInterval);
    sweep.async_wait([this](error_code ec) {
      if (ec) return;
      const Clock::time_point now = Clock::now();
      std::vector<ConnectionBase*> due;
      for (ConnectionBase* c : connections) {
        if (c->deadline <= now) due.push_back(c);
      }
      for (ConnectionBase* c : due) {
        // An earlier timeout's close may have released this one.
        if (connections.count(c) != 0 && c->deadline <= now) {
          c->deadline = Clock::time_point::max();
          c->OnTimeout();
        }
      }
      Sweep();
    });
  }
};

/// A request's answer: status, JSON body and the headers that vary.
struct Answer {
  int status = 200;
  std::string body;
  bool retry_after = false;
  const char* allow = nullptr;
  bool close = false;
  /// Bytes may follow that the parser did not take as a body: read and
  /// dropped before the close, like an unread body.
  bool drop_rest = false;
};

template <class Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

 public:
  template <class... StreamArgs>
  Connection(std::shared_ptr<Shared> shared, ThreadContext& ctx, std::string address,
             StreamArgs&&... stream_args)
      : shared_(std::move(shared)),
        ctx_(ctx),
        address_(std::move(address)),
        stream_(std::forward<StreamArgs>(stream_args)...) {
    ctx_.connections.insert(this);
  }
  ~Connection() override {
    ctx_.connections.erase(this);
    shared_->limiter.Release(address_);
  }

  void Start() {
    error_code ec;
    Socket().set_option(tcp::no_delay(true), ec);
    Socket().non_blocking(true, ec);
    NewParser();
    // The first head must arrive within the head deadline of the accept.
    Arm(shared_->settings.head_timeout);
    if constexpr (kTls) {
      phase_ = Phase::kHandshake;
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code e) {
                                if (e) return self->OnHandshakeFailed(e);
                                self->phase_ = Phase::kIdle;
                                self->WaitRead();
                              });
    } else {
      phase_ = Phase::kIdle;
      WaitRead();
    }
  }

  /// A TLS handshake that failed: counted, logged (at most every 10 s: any
  /// client can fail one), and plain HTTP sent to this TLS port is told so in
  /// plain HTTP, as a front proxy misconfigured that way needs to hear.
  void OnHandshakeFailed(const error_code& e) {
    if constexpr (kTls) {
      const bool plain_http =
          e.category() == asio::error::get_ssl_category() &&
          ERR_GET_REASON(static_cast<unsigned long>(e.value())) == SSL_R_HTTP_REQUEST;
      const char* reason = plain_http ? "plain_http" : "handshake";
      shared_->metrics.Inc("schedbridge_tls_handshake_failures_total", {{"reason", reason}});
      static std::atomic<int64_t> last_logged_s{0};
      const int64_t now_s =
          std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
      int64_t last = last_logged_s.load(std::memory_order_relaxed);
      if (now_s - last >= 10 &&
          last_logged_s.compare_exchange_strong(last, now_s, std::memory_order_relaxed)) {
        log::Warn("tls_handshake_failed",
                  {{"reason", reason},
                   {"error", e.message()},
                   {"detail", plain_http ? "plain HTTP was sent to the TLS webhook port (a front "
                                           "proxy must speak HTTPS to it)"
                                         : ""}});
      }
      if (plain_http) {
        const std::string body =
            ErrorBody("bad_request", "this port speaks TLS: send HTTPS (https://).");
        response_ =
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        phase_ = Phase::kWriting;
        Arm(shared_->settings.write_timeout);
        return asio::async_write(
            Socket(), asio::buffer(response_),
            [self = this->shared_from_this()](error_code, size_t) { self->Close(); });
      }
    }
    Close();
  }

  void OnStop() override {
    if (phase_ == Phase::kIdle || phase_ == Phase::kHandshake || phase_ == Phase::kHead) {
      return Close();
    }
    // Otherwise the answer carries Connection: close (see Respond).
  }

  void OnTimeout() override {
    switch (phase_) {
      case Phase::kHandshake:
        shared_->Limited(limit::kHeadTimeout);
        return Close();
      case Phase::kIdle:
        shared_->Limited(requests_ == 0 ? limit::kHeadTimeout : limit::kIdleTimeout);
        return Close();
      case Phase::kHead:
        shared_->Limited(limit::kHeadTimeout);
        return Fail(408, "timeout", "the request head was not received in time.");
      case Phase::kBody:
      case Phase::kContinue:
        shared_->Limited(limit::kBodyTimeout);
        Count(408);
        return Fail(408, "timeout", "the request body was not received in time.");
      case Phase::kWaiting:
        if (call_) call_->Expire();  // answers 503 through OnAnswer
        return;
      case Phase::kWriting:
        shared_->Limited(limit::kWriteTimeout);
        return Close();
      case Phase::kLinger:
      case Phase::kClosed:
        return Close();
    }
  }

 private:
  enum class Phase {
    kHandshake,
    kIdle,
    kHead,
    kBody,
    kContinue,
    kWaiting,
    kWriting,
    kLinger,
    kClosed
  };

  tcp::socket& Socket() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  // --- deadlines ---------------------------------------------------------

  void Arm(std::chrono::milliseconds after) { deadline = Clock::now() + after; }
  void ArmAt(Clock::time_point at) { deadline = at; }

  // --- reading ------------------------------------------------------------

  /// Waits for bytes. A plain connection holds no buffer while it waits: it
  /// reads, once readable, into the I/O thread's scratch buffer.
  void WaitRead() {
    if constexpr (kTls) {
      if (tls_buffer_.empty()) tls_buffer_.resize(16 << 10);
      stream_.async_read_some(asio::buffer(tls_buffer_),
                              [self = this->shared_from_this()](error_code ec, size_t n) {
                                if (ec == asio::error::operation_aborted) return;
                                if (ec) return self->OnPeerGone();
                                self->OnData(std::string_view(self->tls_buffer_.data(), n));
                              });
    } else {
      Socket().async_wait(tcp::socket::wait_read, [self = this->shared_from_this()](error_code ec) {
        if (ec == asio::error::operation_aborted) return;
        if (ec) return self->OnPeerGone();
        self->OnReadable();
      });
    }
  }

  void OnReadable() {
    if (phase_ == Phase::kClosed) return;
    thread_local std::vector<char> scratch(kReadChunk);
    error_code ec;
    const size_t n = Socket().read_some(asio::buffer(scratch), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return WaitRead();
    if (ec) return OnPeerGone();
    OnData(std::string_view(scratch.data(), n));
  }

  /// The client closed or reset the connection: nobody is left to answer.
  void OnPeerGone() { Close(); }

  void OnData(std::string_view data) {
    switch (phase_) {
      case Phase::kLinger:
        lingered_ += data.size();
        if (lingered_ > kLingerBytes) return Close();
        return WaitRead();
      case Phase::kIdle:
        phase_ = Phase::kHead;
        if (requests_ > 0) Arm(shared_->settings.head_timeout);
        break;
      case Phase::kHead:
      case Phase::kBody:
        break;
      default:
        return;  // not reading in these phases
    }
    Feed(data);
  }

  /// Parses what arrived (after any bytes kept from before).
  void Feed(std::string_view data) {
    std::string_view in = data;
    if (!buffer_.empty()) {
      buffer_.append(data);
      in = buffer_;
    }
    if (phase_ == Phase::kHead && target_check_ == TargetCheck::kUndecided) {
      target_check_ = CheckTarget(in, target_scanned_);
      if (target_check_ == TargetCheck::kTooLong) {
        std::string().swap(buffer_);
        return UriTooLong();
      }
    }
    const size_t used = Drive(in);
    if (buffer_.empty()) {
      if (used < in.size()) buffer_.assign(in.substr(used));
    } else {
      buffer_.erase(0, used);
    }
    if (buffer_.capacity() > 4096 && buffer_.size() < 1024) buffer_.shrink_to_fit();
    if (phase_ != Phase::kHead && phase_ != Phase::kBody) return;
    if (const char* over = PendingOverLimit()) return OverLimit(over);
    WaitRead();
  }

  /// The bytes kept for the parser (it needs a line or section whole) are
  /// bounded by what they are: a head by max_head_bytes (the parser itself
  /// checks), a chunk-size line by kMaxChunkLineBytes, a trailer section by
  /// max_head_bytes. Returns the limit passed, or nullptr.
  const char* PendingOverLimit() const {
    if (phase_ != Phase::kBody || !parser_->chunked() || buffer_.empty()) return nullptr;
    // The parser stopped at a chunk-size line (after the CRLF that ends the
    // previous chunk's data); a complete one it has not taken can only be the
    // last chunk's, waiting for the end of the trailer section.
    std::string_view pending = buffer_;
    if (pending.substr(0, 2) == "\r\n") pending.remove_prefix(2);
    const size_t eol = pending.find("\r\n");
    if (eol == std::string_view::npos) {
      return pending.size() > kMaxChunkLineBytes ? limit::kChunkLine : nullptr;
    }
    return pending.size() - eol - 2 > shared_->settings.max_head_bytes ? limit::kTrailerBytes
                                                                       : nullptr;
  }

  /// Runs the parser over `in`; returns the bytes it consumed. Stops at the
  /// end of one request (what follows is the next, pipelined one).
  size_t Drive(std::string_view in) {
    size_t used = 0;
    for (;;) {
      error_code ec;
      const size_t from = used;
      used += parser_->put(asio::buffer(in.data() + used, in.size() - used), ec);
      // The parser takes a head whole, in one call.
      if (phase_ == Phase::kHead && parser_->is_header_done()) {
        obs_fold_ = HasObsFold(in.substr(from, used - from));
      }
      if (ec == http::error::need_more) {
        return used;
      }
      if (ec) {
        OnParseError(ec);
        return used;
      }
      if (phase_ == Phase::kHead && parser_->is_header_done()) {
        if (!OnHead()) return used;
        if (phase_ == Phase::kContinue) return used;
        phase_ = Phase::kBody;
      }
      if (parser_->is_done()) {
        OnRequest();
        return used;
      }
      if (used == in.size()) return used;
    }
  }

  void OnParseError(const error_code& ec) {
    if (parser_->target_too_long) return UriTooLong();
    if (parser_->limited == limit::kChunkLine || parser_->limited == limit::kTrailerBytes) {
      return OverLimit(parser_->limited);
    }
    if (parser_->limited == limit::kHeaders) {
      shared_->Limited(limit::kHeaders);
      return Fail(431, "request_header_fields_too_large",
                  "more than " + std::to_string(shared_->settings.max_headers) + " header fields.");
    }
    if (ec == http::error::header_limit) {
      shared_->Limited(limit::kHeadBytes);
      return Fail(431, "request_header_fields_too_large",
                  "the request head is over " + std::to_string(shared_->settings.max_head_bytes) +
                      " bytes.");
    }
    if (parser_->limited == limit::kBodyBytes) {
      shared_->Limited(limit::kBodyBytes);
      Count(413);
      return Fail(413, "payload_too_large", TooLargeSentence());
    }
    if (parser_->limited == limit::kBodyBudget) {
      shared_->Limited(limit::kBodyBudget);
      Count(503);
      return Fail(503, "unavailable", BudgetSentence(), /*retry_after=*/true);
    }
    if (phase_ == Phase::kBody) Count(400);
    Fail(400, "bad_request",
         phase_ == Phase::kBody ? "the request body could not be read completely."
                                : "the request is malformed.");
  }

  void UriTooLong() {
    shared_->Limited(limit::kTarget);
    Fail(414, "uri_too_long",
         "the request target is over " + std::to_string(kMaxTargetBytes) + " bytes.");
  }

  /// A chunk-size line or a trailer section over its limit: answered, closed.
  void OverLimit(const char* what) {
    shared_->Limited(what);
    if (what == limit::kChunkLine) {
      Count(400);
      return Fail(400, "bad_request",
                  "a chunk-size line is over " + std::to_string(kMaxChunkLineBytes) + " bytes.");
    }
    Count(431);
    Fail(431, "request_header_fields_too_large",
         "the trailer section is over " + std::to_string(shared_->settings.max_head_bytes) +
             " bytes or " + std::to_string(shared_->settings.max_headers) + " fields.");
  }

  std::string TooLargeSentence() const {
    return "the body is over the limit of " + std::to_string(shared_->settings.max_body_bytes) +
           " bytes.";
  }
  static std::string BudgetSentence() {
    return "too many request bodies are in flight; retry later.";
  }

  // --- one request ----------------------------------------------------------

  /// The head is complete: route and check everything that needs no body.
  /// False when it answered (the connection then closes).
  bool OnHead() {
    ++requests_;
    request_started_ = std::chrono::steady_clock::now();
    request_id_.clear();
    source_label_ = "unknown";  // until a configured source is found
    for (const auto& [name, value] : parser_->fields) {
      if (IEquals(name, "X-Request-Id") && SaneRequestId(value)) request_id_ = value;
    }
    if (request_id_.empty()) request_id_ = NewRequestId();
    if (const char* why = FramingError()) {
      // What follows the head cannot be told apart from a next request:
      // answered, the rest read and dropped, the connection closed.
      Respond({400, ErrorBody("bad_request", why), false, nullptr, true, true});
      return false;
    }

    std::string_view target = parser_->target;
    std::string_view path = target.substr(0, target.find('?'));
    const bool get = parser_->method == http::verb::get || parser_->method == http::verb::head;
    if (path == "/healthz") {
      if (get) return Early({200, R"({"status":"ok"})"});
      return Early(
          {405, ErrorBody("method_not_allowed", "/healthz accepts GET only."), false, "GET, HEAD"});
    }
    constexpr std::string_view kPrefix = "/webhooks/";
    if (path.substr(0, kPrefix.size()) != kPrefix) return NotFound();
    std::string_view rest = path.substr(kPrefix.size());
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    const size_t slash = rest.find('/');
    const std::string_view provider = rest.substr(0, slash);
    const std::string_view source =
        slash == std::string_view::npos ? std::string_view("default") : rest.substr(slash + 1);
    if (provider.empty() || source.empty() || source.find('/') != std::string_view::npos) {
      return NotFound();
    }
    provider_name_.assign(provider);
    source_name_.assign(source);
    provider_label_ = ProviderLabel(shared_->providers, provider);
    if (parser_->method != http::verb::post) {
      return Early(
          {405, ErrorBody("method_not_allowed", "webhooks accept POST only."), false, "POST"});
    }

    // 1. Route.
    provider_ = shared_->providers.Find(provider_name_);
    if (provider_ == nullptr) {
      outcome_ = "unknown_provider";
      // The metric's label stays "unknown" (bounded); the log names what was asked for.
      detail_ = "unknown provider " + Quote(provider) +
                "; expected one of: " + shared_->provider_list + ".";
      return EarlyWebhook({404, ErrorBody("not_found", detail_)});
    }
    source_ = shared_->sources.Find(provider_name_, source_name_);
    if (source_ == nullptr) {
      outcome_ = "unknown_source";
      detail_ = "no source " + Quote(source) + " is configured for " + provider_name_ + ".";
      return EarlyWebhook({404, ErrorBody("not_found", detail_)});
    }
    source_label_ = source_name_;
    if (shared_->stopping) {
      outcome_ = "draining";
      return EarlyWebhook(
          {503, ErrorBody("unavailable", "the service is shutting down; retry later."), true});
    }
    // 2. Framing: size, content type, the budget; all before reading the body.
    std::string media_type;
    bool expect_continue = false;
    for (const auto& [name, value] : parser_->fields) {
      if (IEquals(name, "Content-Type") && media_type.empty()) {
        std::string_view v = value;
        v = TrimView(v.substr(0, v.find(';')));
        media_type = provider_util::Lower(v);
      } else if (IEquals(name, "Expect")) {
        expect_continue = IEquals(TrimView(value), "100-continue");
      }
    }
    const boost::optional<std::uint64_t> length = parser_->content_length();
    if (length && *length > shared_->settings.max_body_bytes) {
      outcome_ = "payload_too_large";
      shared_->Limited(limit::kBodyBytes);
      return EarlyWebhook({413, ErrorBody("payload_too_large", TooLargeSentence())});
    }
    if (!provider_->AcceptsMediaType(media_type)) {
      outcome_ = "unsupported_media_type";
      return EarlyWebhook(
          {415, ErrorBody("unsupported_media_type", provider_name_ + " never sends Content-Type " +
                                                        Quote(media_type) + ".")});
    }
    if (length && !parser_->Reserve(static_cast<size_t>(*length))) {
      outcome_ = "body_budget";
      shared_->Limited(limit::kBodyBudget);
      return EarlyWebhook({503, ErrorBody("unavailable", BudgetSentence()), true});
    }
    phase_ = Phase::kBody;
    Arm(shared_->settings.body_timeout);
    if (expect_continue && !parser_->is_done()) {
      phase_ = Phase::kContinue;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = this->shared_from_this()](error_code ec, size_t) {
                          if (ec) return self->Close();
                          if (self->phase_ != Phase::kContinue) return;
                          self->phase_ = Phase::kBody;
                          if (!self->buffer_.empty()) {
                            std::string pending;
                            pending.swap(self->buffer_);
                            return self->Feed(pending);
                          }
                          self->WaitRead();
                        });
    }
    return true;
  }

  /// Why the body's length is not certain (RFC 9112 6.3), or nullptr.
  const char* FramingError() const {
    if (obs_fold_) return "the request head has a folded header line (obs-fold).";
    bool te = false, length = false;
    for (const auto& [name, value] : parser_->fields) {
      te = te || IEquals(name, "Transfer-Encoding");
      length = length || IEquals(name, "Content-Length");
    }
    if (!te) return nullptr;
    if (length) return "the request has both Transfer-Encoding and Content-Length.";
    // HTTP/1.0 has no transfer codings: a proxy may read the body otherwise.
    if (parser_->version < 11) return "Transfer-Encoding in an HTTP/1.0 request.";
    if (!TransferEncodingAcceptable(parser_->fields)) {
      return "Transfer-Encoding must be chunked (no other transfer coding is accepted).";
    }
    return nullptr;
  }

  bool NotFound() {
    return Early({404, ErrorBody("not_found",
                                 "no such endpoint; webhooks go to POST "
                                 "/webhooks/{provider}[/{source}].")});
  }

  /// An answer before the body was read. The connection closes after it
  /// unless there was no body to read.
  bool Early(Answer a) {
    if (!parser_->is_done()) a.close = true;
    Respond(std::move(a));
    return false;
  }
  bool EarlyWebhook(Answer a) {
    Count(a.status);
    return Early(std::move(a));
  }

  /// The whole request is here: verify, normalize, publish; answer later.
  void OnRequest() {
    if (provider_ == nullptr) {
      // A request that had no body to wait for was answered in OnHead.
      return;
    }
    if (parser_->body.empty()) {
      outcome_ = "empty_body";
      Count(400);
      return Respond({400, ErrorBody("bad_request", "the request body is empty.")});
    }
    phase_ = Phase::kWaiting;
    Headers headers(std::move(parser_->fields));
    const std::string_view target = parser_->target;
    const size_t q = target.find('?');
    Delivery delivery{parser_->body, &headers,
                      q == std::string_view::npos ? std::map<std::string, std::string>()
                                                  : ParseQuery(target.substr(q + 1))};
    struct Return {  // members destroyed in reverse: the connection before its thread
      std::shared_ptr<ThreadContext> ctx;
      std::shared_ptr<Connection> self;
    };
    call_ = shared_->pipeline.IngestAsync(
        *provider_, *source_, delivery,
        [r = Return{ctx_.shared_from_this(), this->shared_from_this()}](IngestResult result) {
          r.ctx->Deliver(r.self, std::move(result));
        });
    // The body is in the messages now; its budget is held until the answer.
    std::string().swap(parser_->body);
    if (phase_ == Phase::kWaiting && !call_->completed()) ArmAt(call_->deadline());
  }

  void OnAnswer(IngestResult r) override {
    call_.reset();
    if (phase_ != Phase::kWaiting) return;
    event_ids_ = r.event_ids;
    dead_letter_id_ = r.dead_letter_id;
    // The log's detail: librdkafka's or the disk's words when there are any,
    // else the sentence the client got (a dead letter's reason, a 401's cause).
    detail_ = r.detail.empty() ? r.error : std::move(r.detail);
    Metrics& m = shared_->metrics;
    switch (r.verdict) {
      case Verdict::kAccepted:
        outcome_ = "accepted";
        for (const std::string& type : r.event_types) {
          m.Inc("schedbridge_events_published_total",
                {{"provider", provider_label_}, {"event_type", type}});
        }
        return Webhook({202, Body("accepted", r.event_ids, {})});
      case Verdict::kDeadLettered:
        outcome_ = "dead_lettered:" + r.dead_letter_reason;
        m.Inc("schedbridge_dead_letters_total",
              {{"provider", provider_label_}, {"reason", r.dead_letter_reason}});
        return Webhook({202, Body("dead_lettered", {}, r.error, r.dead_letter_id)});
      case Verdict::kDuplicate:
        outcome_ = "duplicate";
        m.Inc("schedbridge_duplicates_total",
              {{"provider", provider_label_},
               {"published_by", r.duplicate_of.empty() ? "unknown" : r.duplicate_of}});
        return Webhook({200, Body("duplicate", r.event_ids, {})});
      case Verdict::kSpooled:
        outcome_ = r.dead_letter_reason.empty() ? "spooled" : "spooled:" + r.dead_letter_reason;
        m.Inc("schedbridge_spooled_total", {{"provider", provider_label_}});
        if (!r.dead_letter_reason.empty()) {
          m.Inc("schedbridge_dead_letters_total",
                {{"provider", provider_label_}, {"reason", r.dead_letter_reason}});
        }
        return Webhook({202, Body("spooled", r.event_ids,
                                  r.dead_letter_reason.empty() ? "" : r.error, r.dead_letter_id)});
      case Verdict::kUnauthorized: {
        const std::string code(VerifyStatusCode(r.verify_status));
        outcome_ = "unauthorized:" + code;
        m.Inc("schedbridge_verification_failures_total",
              {{"provider", provider_label_}, {"reason", code}});
        return Webhook({401, ErrorBody("unauthorized", r.error)});
      }
      case Verdict::kUnavailable:
        outcome_ = "unavailable";
        m.Inc("schedbridge_publish_failures_total", {{"provider", provider_label_}});
        return Webhook({503, Body("unavailable", r.event_ids, r.error), true});
    }
  }

  void Webhook(Answer a) {
    Count(a.status);
    Respond(std::move(a));
  }

  /// Counts and logs a webhook answer.
  void Count(int status) {
    Metrics& m = shared_->metrics;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - request_started_).count();
    m.Observe("schedbridge_webhook_duration_seconds", {{"provider", provider_label_}}, seconds);
    m.Inc("schedbridge_webhook_requests_total", {{"provider", provider_label_},
                                                 {"source", source_label_},
                                                 {"code", std::to_string(status)}});
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

  /// An error that ends the connection (bad framing, a limit, a deadline).
  void Fail(int status, const char* word, const std::string& sentence, bool retry_after = false) {
    if (request_id_.empty()) request_id_ = NewRequestId();
    if constexpr (!kTls) {
      error_code ignored;
      Socket().cancel(ignored);  // a pending wait for bytes
    }
    Respond({status, ErrorBody(word, sentence), retry_after, nullptr, true});
  }

  void Respond(Answer a) {
    if (phase_ == Phase::kClosed) return;
    const bool close =
        a.close || shared_->stopping || !parser_->is_header_done() || !parser_->keep_alive();
    response_.clear();
    response_ += "HTTP/1.1 ";
    response_ += std::to_string(a.status);
    response_ += ' ';
    const auto reason = http::obsolete_reason(static_cast<http::status>(a.status));
    response_.append(reason.data(), reason.size());
    response_ += "\r\nContent-Type: application/json\r\nContent-Length: ";
    response_ += std::to_string(a.body.size());
    if (!request_id_.empty()) {
      response_ += "\r\nX-Request-Id: ";
      response_ += request_id_;
    }
    if (a.retry_after) {
      response_ += "\r\nRetry-After: ";
      response_ += std::to_string(shared_->settings.retry_after_seconds);
    }
    if (a.allow != nullptr) {
      response_ += "\r\nAllow: ";
      response_ += a.allow;
    }
    response_ += close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n";
    if (parser_->method != http::verb::head) response_ += a.body;
    phase_ = Phase::kWriting;
    close_after_write_ = close;
    body_unread_ = a.drop_rest || !parser_->is_done();
    Arm(shared_->settings.write_timeout);
    asio::async_write(stream_, asio::buffer(response_),
                      [self = this->shared_from_this()](error_code ec, size_t) {
                        if (ec) return self->Close();
                        self->OnWritten();
                      });
  }

  void OnWritten() {
    if (phase_ != Phase::kWriting) return;
    if (close_after_write_) return body_unread_ ? Linger() : Close();
    // Keep-alive: the next request, maybe already here (pipelined).
    NewParser();
    provider_ = nullptr;
    source_.reset();
    event_ids_.clear();
    outcome_.clear();
    detail_.clear();
    dead_letter_id_.clear();
    phase_ = Phase::kIdle;
    std::string().swap(response_);
    if (!buffer_.empty()) {
      phase_ = Phase::kHead;
      Arm(shared_->settings.head_timeout);
      std::string pending;
      pending.swap(buffer_);
      return Feed(pending);
    }
    Arm(shared_->settings.idle_timeout);
    WaitRead();
  }

  /// Half-closes and reads what the client still sends (bounded), so that it
  /// reads the answer instead of a connection reset.
  void Linger() {
    if constexpr (kTls) {
      return Close();
    } else {
      phase_ = Phase::kLinger;
      parser_.reset();
      std::string().swap(buffer_);
      error_code ignored;
      Socket().shutdown(tcp::socket::shutdown_send, ignored);
      Arm(kLingerTime);
      WaitRead();
    }
  }

  void Close() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    deadline = Clock::time_point::max();
    error_code ignored;
    Socket().shutdown(tcp::socket::shutdown_both, ignored);
    Socket().close(ignored);
    parser_.reset();
    if (call_) call_.reset();
  }

  void NewParser() {
    parser_.emplace(shared_->settings, shared_->budget);
    target_check_ = TargetCheck::kUndecided;
    target_scanned_ = 0;
    obs_fold_ = false;
  }

  std::shared_ptr<Shared> shared_;
  ThreadContext& ctx_;
  const std::string address_;
  Stream stream_;
  Phase phase_ = Phase::kIdle;
  std::string buffer_;  // bytes read but not parsed yet (a partial head, the next request)
  std::vector<char> tls_buffer_;
  std::optional<RequestParser> parser_;
  TargetCheck target_check_ = TargetCheck::kUndecided;
  size_t target_scanned_ = 0;
  bool obs_fold_ = false;
  uint64_t requests_ = 0;
  size_t lingered_ = 0;
  bool close_after_write_ = false;
  bool body_unread_ = false;
  std::string response_;
  // The request being served.
  std::chrono::steady_clock::time_point request_started_{};
  std::string request_id_, provider_name_, source_name_, outcome_;
  std::string provider_label_ = "unknown", source_label_ = "unknown";
  const Provider* provider_ = nullptr;
  std::shared_ptr<const SourceConfig> source_;
  std::shared_ptr<IngestCall> call_;
  std::vector<std::string> event_ids_;
  std::string detail_;  // for the log only (librdkafka's error...)
  std::string dead_letter_id_;
};

}  // namespace

// ---------------------------------------------------------------------------
// The server: an acceptor and the I/O threads.

class WebhookServer::Impl {
 public:
  Impl(const Config& config, const SourceTable& sources, Pipeline& pipeline,
       const ProviderRegistry& providers, Metrics& metrics)
      : shared_(std::make_shared<Shared>(config, sources, pipeline, providers, metrics)),
        contexts_(),
        accept_ctx_(std::make_shared<ThreadContext>()),
        acceptor_(accept_ctx_->io),
        retry_timer_(accept_ctx_->io) {
    int threads = config.http.io_threads;
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 0; i < threads; ++i) contexts_.push_back(std::make_shared<ThreadContext>());
    if (!config.http.tls_cert_file.empty()) LoadTls(config.http);
    // The webhook port's counters, one line each.
    static constexpr std::pair<const char*, const char*> kCounters[] = {
        {"schedbridge_webhook_requests_total",
         "Webhook requests by provider, source and HTTP status code."},
        {"schedbridge_verification_failures_total",
         "Webhooks rejected by authentication, by reason."},
        {"schedbridge_events_published_total",
         "Canonical events acknowledged by Kafka, by provider and event type."},
        {"schedbridge_dead_letters_total",
         "Deliveries written to the dead-letter topic, by reason."},
        {"schedbridge_duplicates_total",
         "Deliveries answered as duplicates and not published, by provider and the replica that "
         "published the ids first."},
        {"schedbridge_spooled_total",
         "Deliveries of ack: spool sources stored in the durable spool, by provider."},
        {"schedbridge_publish_failures_total",
         "Webhooks answered 503 because Kafka did not acknowledge in time."},
        {"schedbridge_http_limited_total",
         "Requests and connections cut short by a limit of the webhook port, by limit (README: "
         "Limits)."},
        {"schedbridge_tls_handshake_failures_total",
         "TLS handshakes on the webhook port that failed, by reason (plain_http: plain HTTP sent "
         "to the TLS port)."},
    };
    for (const auto& [name, help] : kCounters) metrics.Describe(name, "counter", help);
    for (const char* l : limit::kAll)
      metrics.Inc("schedbridge_http_limited_total", {{"limit", l}}, 0);
    metrics.DescribeHistogram(
        "schedbridge_webhook_duration_seconds",
        "Time from request to answer for webhooks, including the wait for the Kafka ack.",
        {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    std::weak_ptr<Shared> weak = shared_;
    metrics.Gauge("schedbridge_http_connections", "Open connections on the webhook port.", [weak] {
      auto s = weak.lock();
      return s ? static_cast<double>(s->limiter.open()) : 0.0;
    });
    metrics.Gauge("schedbridge_http_body_bytes_in_flight",
                  "Request body bytes held by requests in flight (SCHEDBRIDGE_BODY_BUDGET_BYTES "
                  "at most).",
                  [weak] {
                    auto s = weak.lock();
                    return s ? static_cast<double>(s->budget.used()) : 0.0;
                  });
  }

  ~Impl() { Stop(std::chrono::milliseconds(0)); }

  /// A server TLS context from the settings' PEM files, or nullptr with a
  /// sentence in `error`.
  static std::shared_ptr<asio::ssl::context> MakeTls(const HttpSettings& s, std::string& error) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    try {
      ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use |
                       SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
      SSL_CTX* native = ctx->native_handle();
      const int min_version = s.tls_min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
      if (SSL_CTX_set_min_proto_version(native, min_version) != 1) {
        throw std::runtime_error("cannot set the minimum TLS version");
      }
      // TLS 1.2 suites: only these (forward secret, AEAD). TLS 1.3's own
      // suites are all both.
      if (SSL_CTX_set_cipher_list(native, s.tls_ciphers.c_str()) != 1) {
        throw std::runtime_error("no usable cipher in SCHEDBRIDGE_TLS_CIPHERS");
      }
      ctx->use_certificate_chain_file(s.tls_cert_file);
      ctx->use_private_key_file(s.tls_key_file, asio::ssl::context::pem);
      if (SSL_CTX_check_private_key(native) != 1) {
        throw std::runtime_error("the key does not match the certificate");
      }
      return ctx;
    } catch (const std::exception& e) {
      std::string why = e.what();
      if (why.find("mismatch") != std::string::npos) why = "the key does not match the certificate";
      error = "cannot load the TLS certificate " + s.tls_cert_file + " / key " + s.tls_key_file +
              ": " + why;
      return nullptr;
    }
  }

  void LoadTls(const HttpSettings& s) {
    if (auto ctx = MakeTls(s, tls_error_)) shared_->SetTlsContext(std::move(ctx));
  }

  int Bind(const std::string& host, int port, std::string& error) {
    return Listen(acceptor_, host, port, shared_->settings.listen_backlog, "", error);
  }

  void Start() {
    Accept();
    auto run = [](const std::shared_ptr<ThreadContext>& c, const char* name) {
      c->thread = std::thread([c = c.get(), name] {
        NameThisThread(name);
        auto guard = asio::make_work_guard(c->io);
        c->io.run();
      });
    };
    run(accept_ctx_, "sb-accept");
    for (auto& c : contexts_) {
      asio::post(c->io, [c = c.get()] { c->Sweep(); });
      run(c, "sb-io");
    }
  }

  void Accept() {
    ThreadContext& target = *contexts_[next_++ % contexts_.size()];
    acceptor_.async_accept(target.io, [this, &target](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      if (ec) {
        // Out of descriptors (EMFILE) or a transient error: pause, never spin.
        log::Warn("accept_failed", {{"error", ec.message()}});
        retry_timer_.expires_after(std::chrono::milliseconds(50));
        retry_timer_.async_wait([this](error_code e) {
          if (!e) Accept();
        });
        return;
      }
      Admit(std::move(socket), target);
      Accept();
    });
  }

  void Admit(tcp::socket socket, ThreadContext& target) {
    error_code ec;
    const tcp::endpoint peer = socket.remote_endpoint(ec);
    if (ec) return;
    std::string address = peer.address().to_string();
    switch (shared_->limiter.Admit(address)) {
      case ConnectionLimiter::Admission::kTooManyInAll:
        shared_->Limited(limit::kConnections);
        return;  // closed by the socket's destructor
      case ConnectionLimiter::Admission::kTooManyFromAddress:
        shared_->Limited(limit::kConnectionsPerAddress);
        return;
      case ConnectionLimiter::Admission::kAdmitted:
        break;
    }
    asio::post(target.io, [shared = shared_, &target, socket = std::move(socket),
                           address = std::move(address), tls = shared_->TlsContext()]() mutable {
      if (tls) {
        using Tls = asio::ssl::stream<tcp::socket>;
        std::make_shared<Connection<Tls>>(shared, target, std::move(address), std::move(socket),
                                          *tls)
            ->Start();
      } else {
        std::make_shared<Connection<tcp::socket>>(shared, target, std::move(address),
                                                  std::move(socket))
            ->Start();
      }
    });
  }

  void Stop(std::chrono::milliseconds grace) {
    if (stopped_.exchange(true)) return;
    shared_->stopping = true;
    if (accept_ctx_->thread.joinable()) {
      asio::post(accept_ctx_->io, [this] {
        error_code ignored;
        acceptor_.close(ignored);
        retry_timer_.cancel();
      });
    } else {
      error_code ignored;
      acceptor_.close(ignored);
    }
    for (auto& c : contexts_) {
      asio::post(c->io, [c = c.get()] {
        // Closing one may erase it from the set: iterate over a copy.
        const std::vector<ConnectionBase*> open(c->connections.begin(), c->connections.end());
        for (ConnectionBase* conn : open) {
          if (c->connections.count(conn)) conn->OnStop();
        }
      });
    }
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (shared_->limiter.open() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    accept_ctx_->io.stop();
    if (accept_ctx_->thread.joinable()) accept_ctx_->thread.join();
    for (auto& c : contexts_) {
      c->io.stop();
      if (c->thread.joinable()) c->thread.join();
    }
  }

  std::shared_ptr<Shared> shared_;
  // Destroyed in reverse: the acceptor, then its context (whose pending
  // accept holds a socket of a worker's context), then the workers'.
  std::vector<std::shared_ptr<ThreadContext>> contexts_;
  std::shared_ptr<ThreadContext> accept_ctx_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  size_t next_ = 0;
  std::atomic<bool> stopped_{false};
  std::string tls_error_;
};

WebhookServer::WebhookServer(const Config& config, const SourceTable& sources, Pipeline& pipeline,
                             const ProviderRegistry& providers, Metrics& metrics)
    : impl_(std::make_unique<Impl>(config, sources, pipeline, providers, metrics)) {}

WebhookServer::~WebhookServer() = default;

bool WebhookServer::Valid() const { return impl_->tls_error_.empty(); }

bool WebhookServer::CheckTls(const HttpSettings& settings, std::string& error) {
  return Impl::MakeTls(settings, error) != nullptr;
}

bool WebhookServer::ReloadTls(const HttpSettings& settings, std::string& error) {
  if (settings.tls_cert_file.empty()) return true;
  auto ctx = Impl::MakeTls(settings, error);
  if (!ctx) return false;
  impl_->shared_->SetTlsContext(std::move(ctx));
  return true;
}
const std::string& WebhookServer::tls_error() const { return impl_->tls_error_; }

int WebhookServer::Bind(const std::string& host, int port, std::string& error) {
  return impl_->Bind(host, port, error);
}

void WebhookServer::Start() { impl_->Start(); }

void WebhookServer::Stop(std::chrono::milliseconds grace) { impl_->Stop(grace); }

size_t WebhookServer::open_connections() const { return impl_->shared_->limiter.open(); }

size_t WebhookServer::body_bytes_in_flight() const { return impl_->shared_->budget.used(); }

}  // namespace bridge

#include "bridge/http/server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <thread>
#include <vector>

#include "bridge/http/connection.h"
#include "bridge/http/io_thread.h"
#include "bridge/http/limits.h"
#include "bridge/http/listen.h"
#include "bridge/http/tls.h"
#include "bridge/util/cpus.h"
#include "bridge/util/log.h"
#include "bridge/util/thread_name.h"

namespace bridge {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

/// The transport's metrics: limits, TLS handshakes, connections, budget.
void DescribeMetrics(Metrics& metrics, const std::shared_ptr<ServerState>& shared) {
  metrics.Describe("schedbridge_http_limited_total", "counter",
                   "Requests and connections cut short by a limit of the webhook port, by limit "
                   "(README: Limits).");
  metrics.Describe("schedbridge_tls_handshake_failures_total", "counter",
                   "TLS handshakes on the webhook port that failed, by reason (plain_http: plain "
                   "HTTP sent to the TLS port).");
  metrics.Describe("schedbridge_http_malformed_total", "counter",
                   "Requests the webhook port answered 400 as malformed, by reason (head, "
                   "framing, body); counted, not logged.");
  for (const char* l : limit::kAll) {
    metrics.Inc("schedbridge_http_limited_total", {{"limit", l}}, 0);
  }
  for (const char* m : malformed::kAll) {
    metrics.Inc("schedbridge_http_malformed_total", {{"reason", m}}, 0);
  }
  std::weak_ptr<ServerState> weak = shared;
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

}  // namespace

class HttpServer::Impl {
 public:
  Impl(const HttpSettings& settings, Handler& handler, Metrics& metrics)
      : shared_(std::make_shared<ServerState>(settings, handler, metrics)),
        accept_ctx_(std::make_shared<IoThread>()),
        acceptor_(accept_ctx_->io),
        retry_timer_(accept_ctx_->io) {
    const int threads = settings.io_threads > 0 ? settings.io_threads : cpus::Usable();
    for (int i = 0; i < threads; ++i) contexts_.push_back(std::make_shared<IoThread>());
    if (!settings.tls_cert_file.empty()) {
      if (auto ctx = MakeTlsContext(settings, tls_error_)) shared_->SetTlsContext(std::move(ctx));
    }
    DescribeMetrics(metrics, shared_);
  }

  ~Impl() { Stop(std::chrono::milliseconds(0)); }

  int Bind(const std::string& host, int port, std::string& error) {
    return Listen(acceptor_, host, port, shared_->settings.listen_backlog, "", error);
  }

  void Start() {
    Accept();
    auto run = [](const std::shared_ptr<IoThread>& c, const char* name) {
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
    IoThread& target = *contexts_[next_++ % contexts_.size()];
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

  void Admit(tcp::socket socket, IoThread& target) {
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
        std::make_shared<Connection<TlsStream>>(shared, target, std::move(address),
                                                std::move(socket), *tls)
            ->Start();
      } else {
        std::make_shared<Connection<PlainStream>>(shared, target, std::move(address),
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

  std::shared_ptr<ServerState> shared_;
  // Destroyed in reverse: the acceptor, then its context (whose pending
  // accept holds a socket of a worker's context), then the workers'.
  std::vector<std::shared_ptr<IoThread>> contexts_;
  std::shared_ptr<IoThread> accept_ctx_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  size_t next_ = 0;
  std::atomic<bool> stopped_{false};
  std::string tls_error_;
};

HttpServer::HttpServer(const HttpSettings& settings, Handler& handler, Metrics& metrics)
    : impl_(std::make_unique<Impl>(settings, handler, metrics)) {}

HttpServer::~HttpServer() = default;

bool HttpServer::Valid() const { return impl_->tls_error_.empty(); }

const std::string& HttpServer::tls_error() const { return impl_->tls_error_; }

bool HttpServer::CheckTls(const HttpSettings& settings, std::string& error) {
  return MakeTlsContext(settings, error) != nullptr;
}

bool HttpServer::ReloadTls(const HttpSettings& settings, std::string& error) {
  if (settings.tls_cert_file.empty()) return true;
  auto ctx = MakeTlsContext(settings, error);
  if (!ctx) return false;
  impl_->shared_->SetTlsContext(std::move(ctx));
  return true;
}

int HttpServer::Bind(const std::string& host, int port, std::string& error) {
  return impl_->Bind(host, port, error);
}

void HttpServer::Start() { impl_->Start(); }

void HttpServer::Stop(std::chrono::milliseconds grace) { impl_->Stop(grace); }

int HttpServer::io_threads() const { return static_cast<int>(impl_->contexts_.size()); }

size_t HttpServer::open_connections() const { return impl_->shared_->limiter.open(); }

size_t HttpServer::body_bytes_in_flight() const { return impl_->shared_->budget.used(); }

}  // namespace bridge

#include "bridge/http/admin_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <list>
#include <optional>
#include <thread>

#include "bridge/http/listen.h"
#include "bridge/util/log.h"
#include "bridge/util/thread_name.h"

namespace bridge {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

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

namespace {

/// The `limit` label values of schedbridge_admin_limited_total.
namespace admin_limit {
constexpr const char* kRequestTimeout = "request_timeout";
constexpr const char* kHeadBytes = "head_bytes";
constexpr const char* kBodyBytes = "body_bytes";
constexpr const char* kConnections = "connections";
constexpr const char* kAll[] = {kRequestTimeout, kHeadBytes, kBodyBytes, kConnections};
}  // namespace admin_limit

constexpr const char* kJson = "application/json";
/// After an error answer: how long and how much the client may still send
/// before the close (so that it reads the answer, not a reset).
constexpr auto kLingerTime = std::chrono::milliseconds(1000);
constexpr size_t kLingerBytes = 64 << 10;

}  // namespace

// ---------------------------------------------------------------------------
// The server: an acceptor, the open connections (oldest first), one thread.

class AdminServer::Impl {
 public:
  class Connection;
  struct Answer {
    int status;
    const char* content_type;
    std::string body;
  };

  Impl(AdminServer& owner, AdminLimits limits)
      : owner_(owner), limits_(limits), acceptor_(io_), retry_timer_(io_) {}

  Answer Route(std::string_view path);
  void Accept();
  /// At the connection cap: closes the oldest connection still waiting for
  /// its request or lingering after an error, else the oldest. False when
  /// none is open.
  bool MakeRoom();
  void Limited(const char* what) {
    owner_.metrics_.Inc("schedbridge_admin_limited_total", {{"limit", what}});
  }

  AdminServer& owner_;
  const AdminLimits limits_;
  // Declared before `io_`: connections destroyed with its pending handlers
  // unregister here.
  std::list<Connection*> open_;
  std::atomic<size_t> open_count_{0};
  std::array<char, 4096> scratch_{};  // lingering reads (one I/O thread)
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
};

class AdminServer::Impl::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Impl& server, tcp::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        timer_(server.io_),
        buffer_(server.limits_.max_head_bytes + server.limits_.max_body_bytes + 1024) {
    where_ = server_.open_.insert(server_.open_.end(), this);
    ++server_.open_count_;
  }
  ~Connection() {
    server_.open_.erase(where_);
    --server_.open_count_;
  }

  void Start() {
    error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    ReadRequest();
  }

  /// Still waiting for (the rest of) a request, or lingering after an error
  /// answer: the first to make room for another.
  bool waiting() const { return (reading_ || lingering_) && !closed_; }
  bool open() const { return !closed_; }

  void Close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  /// Closes the connection when `after` passes (counted as `limit`, if any).
  void Arm(std::chrono::milliseconds after, const char* limit) {
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this(), limit](error_code ec) {
      if (ec) return;
      if (limit != nullptr && self->parser_ && self->parser_->got_some()) {
        self->server_.Limited(limit);
      }
      self->Close();
    });
  }

  /// One whole request (head and any body) within request_timeout, however
  /// often its bytes come.
  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.limits_.max_head_bytes));
    parser_->body_limit(server_.limits_.max_body_bytes);
    reading_ = true;
    Arm(server_.limits_.request_timeout, admin_limit::kRequestTimeout);
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(const error_code& ec) {
    reading_ = false;
    if (closed_) return;
    if (!ec) return Answer();
    if (ec == http::error::header_limit) {
      server_.Limited(admin_limit::kHeadBytes);
      return Fail(431);
    }
    // A body over its limit, or a chunk-size line longer than the buffer.
    if (ec == http::error::body_limit || ec == http::error::buffer_overflow) {
      server_.Limited(admin_limit::kBodyBytes);
      return Fail(413);
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return Fail(400);
    }
    Close();  // the client left (or the request deadline closed it)
  }

  void Answer() {
    const auto& request = parser_->get();
    const std::string_view target(request.target().data(), request.target().size());
    const bool head = request.method() == http::verb::head;
    const bool get = head || request.method() == http::verb::get;
    Impl::Answer a = get ? server_.Route(target.substr(0, target.find('?')))
                         : server_.Route({});  // 404, as for any other path
    Write(a, head, !request.keep_alive() || server_.stopped_);
  }

  /// An error answer; the connection closes after it.
  void Fail(int status) {
    Write({status, kJson, R"({"status":"error","error":"the request failed."})"}, false, true,
          /*linger=*/true);
  }

  void Write(const Impl::Answer& a, bool head_only, bool close, bool linger = false) {
    response_ = "HTTP/1.1 " + std::to_string(a.status) + " ";
    const auto reason = http::obsolete_reason(static_cast<http::status>(a.status));
    response_.append(reason.data(), reason.size());
    response_ += "\r\nContent-Type: ";
    response_ += a.content_type;
    response_ += "\r\nContent-Length: " + std::to_string(a.body.size());
    response_ += close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n";
    if (!head_only) response_ += a.body;
    Arm(server_.limits_.write_timeout, nullptr);
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this(), close, linger](error_code ec, size_t) {
                        if (ec || self->closed_) return self->Close();
                        std::string().swap(self->response_);
                        if (linger) return self->Linger();
                        if (close) return self->Close();
                        self->ReadRequest();
                      });
  }

  /// Half-closes and drops what the client still sends (bounded), so that it
  /// reads the answer instead of a connection reset.
  void Linger() {
    lingering_ = true;
    parser_.reset();
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    Arm(kLingerTime, nullptr);
    Drop();
  }
  void Drop() {
    socket_.async_read_some(asio::buffer(server_.scratch_),
                            [self = shared_from_this()](error_code ec, size_t n) {
                              self->dropped_ += n;
                              if (ec || self->closed_ || self->dropped_ > kLingerBytes) {
                                return self->Close();
                              }
                              self->Drop();
                            });
  }

  Impl& server_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;  // bounded: a head, a small body, what follows
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string response_;
  std::list<Connection*>::iterator where_;
  size_t dropped_ = 0;
  bool reading_ = false;
  bool lingering_ = false;
  bool closed_ = false;
};

AdminServer::Impl::Answer AdminServer::Impl::Route(std::string_view path) {
  AdminServer& s = owner_;
  if (path == "/healthz") {
    std::string why;
    {
      std::lock_guard lock(s.readiness_mu_);
      if (s.liveness_) why = s.liveness_();
    }
    if (!why.empty()) return {503, kJson, "{\"status\":\"" + why + "\"}"};
    return {200, kJson, R"({"status":"ok"})"};
  }
  if (path == "/readyz") {
    if (s.draining_) return {503, kJson, R"({"status":"draining"})"};
    std::string why;
    {
      std::lock_guard lock(s.readiness_mu_);
      if (s.readiness_) why = s.readiness_();
    }
    if (!why.empty()) return {503, kJson, "{\"status\":\"" + why + "\"}"};
    return {200, kJson, R"({"status":"ready"})"};
  }
  if (path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8", s.metrics_.Render()};
  }
  return {
      404, kJson,
      R"({"status":"not_found","error":"the admin port serves GET /metrics, /healthz and /readyz."})"};
}

void AdminServer::Impl::Accept() {
  acceptor_.async_accept(io_, [this](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors (EMFILE) or a transient error: pause, never spin.
      log::Warn("admin_accept_failed", {{"error", ec.message()}});
      retry_timer_.expires_after(std::chrono::milliseconds(50));
      retry_timer_.async_wait([this](error_code e) {
        if (!e) Accept();
      });
      return;
    }
    if (open_count_ < limits_.max_connections || MakeRoom()) {
      std::make_shared<Connection>(*this, std::move(socket))->Start();
    } else {
      Limited(admin_limit::kConnections);  // closed by the socket's destructor
    }
    Accept();
  });
}

bool AdminServer::Impl::MakeRoom() {
  // The oldest connection still reading or lingering; else the oldest one of
  // all (an answer to a client that does not read it): a probe always gets in.
  for (bool any : {false, true}) {
    for (Connection* c : open_) {
      if (any ? c->open() : c->waiting()) {
        Limited(admin_limit::kConnections);
        c->Close();
        return true;
      }
    }
  }
  return false;
}

AdminServer::AdminServer(Metrics& metrics, ReadinessCheck readiness, AdminLimits limits)
    : metrics_(metrics),
      readiness_(std::move(readiness)),
      impl_(std::make_unique<Impl>(*this, limits)) {
  metrics_.Describe("schedbridge_admin_limited_total", "counter",
                    "Requests and connections cut short by a limit of the admin port, by limit "
                    "(README: Limits).");
  for (const char* l : admin_limit::kAll) {
    metrics_.Inc("schedbridge_admin_limited_total", {{"limit", l}}, 0);
  }
}

AdminServer::~AdminServer() { Stop(); }

void AdminServer::SetReadinessCheck(ReadinessCheck check) {
  std::lock_guard lock(readiness_mu_);
  readiness_ = std::move(check);
}

void AdminServer::SetLivenessCheck(ReadinessCheck check) {
  std::lock_guard lock(readiness_mu_);
  liveness_ = std::move(check);
}

size_t AdminServer::open_connections() const { return impl_->open_count_; }

int AdminServer::Bind(const std::string& host, int port, std::string& error) {
  return Listen(impl_->acceptor_, host, port, 1024, " (admin port)", error);
}

void AdminServer::Start() {
  if (!impl_->acceptor_.is_open()) return;
  impl_->Accept();
  impl_->thread_ = std::thread([impl = impl_.get()] {
    NameThisThread("sb-admin");
    auto guard = asio::make_work_guard(impl->io_);
    impl->io_.run();
  });
}

void AdminServer::Stop() {
  if (!impl_ || impl_->stopped_.exchange(true)) return;
  Impl& impl = *impl_;
  auto close_all = [&impl] {
    error_code ignored;
    impl.acceptor_.close(ignored);
    impl.retry_timer_.cancel();
    for (Impl::Connection* c : impl.open_) c->Close();
    impl.io_.stop();
  };
  if (impl.thread_.joinable()) {
    asio::post(impl.io_, close_all);
    impl.thread_.join();
  } else {
    close_all();
  }
}

}  // namespace bridge

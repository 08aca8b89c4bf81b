#include "bridge/http/admin_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "bridge/util/log.h"
#include "bridge/util/thread_name.h"

namespace bridge {

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

AdminServer::AdminServer(Metrics& metrics, ReadinessCheck readiness, int threads)
    : metrics_(metrics),
      readiness_(std::move(readiness)),
      server_(std::make_unique<httplib::Server>()) {
  httplib::Server& s = *server_;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  // cpp-httplib's default also sets SO_REUSEPORT, which lets a second process
  // share the port silently. Only SO_REUSEADDR (restarts past TIME_WAIT).
  s.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  s.set_tcp_nodelay(true);
  s.set_read_timeout(5, 0);
  s.set_write_timeout(5, 0);
  s.set_keep_alive_timeout(5);
  s.set_payload_max_length(1 << 10);
  auto json = [](httplib::Response& res, int status, const std::string& body) {
    res.status = status;
    res.set_content(body, "application/json");
  };
  s.Get("/healthz", [this, json](const httplib::Request&, httplib::Response& res) {
    std::string why;
    {
      std::lock_guard lock(readiness_mu_);
      if (liveness_) why = liveness_();
    }
    if (!why.empty()) return json(res, 503, "{\"status\":\"" + why + "\"}");
    json(res, 200, R"({"status":"ok"})");
  });
  s.Get("/readyz", [this, json](const httplib::Request&, httplib::Response& res) {
    if (draining_) return json(res, 503, R"({"status":"draining"})");
    std::string why;
    {
      std::lock_guard lock(readiness_mu_);
      if (readiness_) why = readiness_();
    }
    if (!why.empty()) return json(res, 503, "{\"status\":\"" + why + "\"}");
    json(res, 200, R"({"status":"ready"})");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      res.set_content(
          res.status == 404
              ? R"({"status":"not_found","error":"the admin port serves GET /metrics, /healthz and /readyz."})"
              : R"({"status":"error","error":"the request failed."})",
          "application/json");
    }
  });
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

int AdminServer::Bind(const std::string& host, int port, std::string& error) {
  const int bound =
      port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    error = "cannot listen on " + host + ":" + std::to_string(port) +
            " (admin port): the port is already in use or the address is not local.";
    return -1;
  }
  RaiseListenBacklog(bound, 128);
  return bound;
}

void AdminServer::Start() {
  thread_ = std::thread([this] {
    NameThisThread("sb-admin");
    server_->listen_after_bind();
  });
  // cpp-httplib's stop() does nothing before its loop runs: wait for it, so
  // that a Stop() right after Start() cannot leave the thread listening.
  while (!server_->is_running() && thread_.joinable()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void AdminServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace bridge

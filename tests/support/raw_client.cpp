#include "raw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

namespace bridge::testing {

int Connect(int port, const std::string& source) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) > 0;
}

namespace {

/// Bytes of complete answers at the start of `raw` (0 when the first is incomplete).
size_t CompleteAnswers(const std::string& raw, int& count) {
  size_t at = 0;
  count = 0;
  for (;;) {
    const size_t end = raw.find("\r\n\r\n", at);
    if (end == std::string::npos) return at;
    size_t length = 0;
    const std::string head = raw.substr(at, end - at);
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (const size_t cl = lower.find("content-length:"); cl != std::string::npos) {
      length = std::strtoul(head.c_str() + cl + 15, nullptr, 10);
    }
    if (raw.size() < end + 4 + length) return at;
    at = end + 4 + length;
    // 1xx answers have no body and do not count.
    if (head.compare(0, 10, "HTTP/1.1 1") != 0) ++count;
  }
}

}  // namespace

std::string ReadAnswers(int fd, int count, int timeout_ms) {
  std::string raw;
  char buf[8192];
  int complete = 0;
  while (Readable(fd, timeout_ms)) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
    CompleteAnswers(raw, complete);
    if (complete >= count) break;
  }
  return raw;
}

int StatusOf(const std::string& raw) {
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || raw.size() < 12) return 0;
  return std::atoi(raw.substr(9, 3).c_str());
}

bool ClosedByPeer(int fd, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Readable(fd, 50)) continue;
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;
  }
  return false;
}

int RawStatus(int port, const std::string& bytes, size_t chunk, std::chrono::milliseconds gap,
              int wait_ms) {
  const int fd = Connect(port);
  if (fd < 0) return -1;
  if (chunk == 0) chunk = bytes.size();
  for (size_t off = 0; off < bytes.size(); off += chunk) {
    if (Readable(fd, 0)) break;  // answered (or closed) before we finished
    const ssize_t n =
        send(fd, bytes.data() + off, std::min(chunk, bytes.size() - off), MSG_NOSIGNAL);
    if (n <= 0) break;
    if (gap.count() > 0) std::this_thread::sleep_for(gap);
  }
  const std::string answer = ReadAnswers(fd, 1, wait_ms);
  close(fd);
  return StatusOf(answer);
}

EndlessLine SendEndlessHeaderLine(int port, const std::string& request_line, size_t max_bytes) {
  return SendEndless(port, request_line + "\r\nX-Junk: ", max_bytes);
}

EndlessLine SendEndless(int port, const std::string& prefix, size_t max_bytes, char filler) {
  EndlessLine result;
  const int fd = Connect(port);
  if (fd < 0) return result;
  send(fd, prefix.data(), prefix.size(), MSG_NOSIGNAL);
  const std::string junk(64 << 10, filler);
  while (result.sent < max_bytes) {
    if (Readable(fd, 0)) break;  // answered or closed
    const ssize_t n = send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    result.sent += static_cast<size_t>(n);
  }
  result.answer = ReadAnswers(fd, 1, 2000);
  close(fd);
  return result;
}

std::string RawPost(const std::string& path, const std::string& body,
                    const std::vector<std::string>& headers, bool with_length, bool close) {
  std::string r = "POST " + path + " HTTP/1.1\r\nHost: test\r\n";
  if (close) r += "Connection: close\r\n";
  for (const auto& h : headers) r += h + "\r\n";
  if (with_length) r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

}  // namespace bridge::testing

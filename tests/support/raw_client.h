#pragma once

// A raw TCP client for hostile tests: exact bytes on the wire, slow sends,
// source addresses anywhere in 127.0.0.0/8.

#include <chrono>
#include <string>
#include <vector>

namespace bridge::testing {

/// Connects to 127.0.0.1:`port` from `source` (any 127.x.y.z). -1 on failure.
int Connect(int port, const std::string& source = "127.0.0.1");

/// True when `fd` has something to read (or was closed) within `timeout_ms`.
bool Readable(int fd, int timeout_ms);

/// Reads until `count` complete answers (head + Content-Length body) arrived,
/// the peer closed, or nothing came for `timeout_ms`. Returns what was read.
std::string ReadAnswers(int fd, int count, int timeout_ms);

/// The status code of the first answer in `raw`, 0 if none.
int StatusOf(const std::string& raw);

/// True when the peer closed `fd` (orderly or reset) within `timeout_ms`;
/// bytes it sends before are discarded.
bool ClosedByPeer(int fd, int timeout_ms);

/// Sends `bytes` (in `chunk`-sized pieces `gap` apart, stopping early if the
/// server answers) and returns the status code of the answer, 0 if none.
int RawStatus(int port, const std::string& bytes, size_t chunk = 0,
              std::chrono::milliseconds gap = std::chrono::milliseconds(0), int wait_ms = 4000);

/// What a server did with a header line that never ends.
struct EndlessLine {
  size_t sent = 0;     // bytes of junk accepted before the server stopped reading
  std::string answer;  // what it answered, if anything
};

/// Sends `request_line` + "X-Junk: " and then up to `max_bytes` with no
/// newline, until the server answers or closes.
EndlessLine SendEndlessHeaderLine(int port, const std::string& request_line, size_t max_bytes);

/// Sends `prefix` and then up to `max_bytes` of `filler` with no newline,
/// until the server answers or closes.
EndlessLine SendEndless(int port, const std::string& prefix, size_t max_bytes, char filler = 'j');

/// A request with the given headers; Connection: close and Content-Length
/// unless told otherwise.
std::string RawPost(const std::string& path, const std::string& body,
                    const std::vector<std::string>& headers, bool with_length = true,
                    bool close = true);

}  // namespace bridge::testing

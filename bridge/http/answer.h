#pragma once

// Answers: the status, JSON body and varying headers of one reply, and how
// they are written on the wire.

#include <string>
#include <string_view>
#include <vector>

namespace bridge {

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

/// The JSON body of every answer: {"status", "event_ids", ["dead_letter_id"], "error"}.
std::string JsonBody(std::string_view status, const std::vector<std::string>& event_ids,
                     const std::string& error, const std::string& dead_letter_id = {});
/// JsonBody with no event ids.
std::string ErrorBody(std::string_view status, const std::string& error);

/// Whether a client's X-Request-Id may be echoed: 1 to 128 of [A-Za-z0-9-_.:].
bool SaneRequestId(std::string_view id);
/// A new random request id (16 hex digits).
std::string NewRequestId();

/// Writes `a` to `out` (replacing what it held) as an HTTP/1.1 answer with
/// Content-Type: application/json; the body is left out when `with_body` is
/// false (a HEAD request).
void WriteAnswer(std::string& out, const Answer& a, std::string_view request_id,
                 int retry_after_seconds, bool close, bool with_body);

}  // namespace bridge

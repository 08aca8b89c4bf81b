#pragma once

// The interface between the transport (bridge/http/) and what serves the
// requests (the webhook route). The transport reads and frames a request,
// enforces every limit and deadline, and writes answers; the handler decides
// what a request means. A request goes through it in steps:
//   1. Handler::Route(head): an answer now, or an Exchange that takes the body;
//   2. the transport checks the declared size (413);
//   3. Exchange::Admit(head): an answer now (e.g. an unsupported media type),
//      or read the body;
//   4. the transport takes the body's bytes from the budget (503), reads it;
//   5. Exchange::OnBody(...): an answer now, or later through `later`.
// When the transport itself ends a request the route took (a limit, a
// deadline, a malformed body), it tells the exchange with Ended().

#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "bridge/http/answer.h"
#include "bridge/http/framing.h"

namespace bridge {

/// What the transport knows once a request's head is in.
struct RequestHead {
  boost::beast::http::verb method = boost::beast::http::verb::unknown;
  std::string_view target;
  const HeaderFields* fields = nullptr;
  std::optional<std::uint64_t> content_length;
  /// The request id the answer carries (the client's X-Request-Id when sane).
  std::string_view request_id;
  /// When the head was complete (the request's latency counts from here).
  std::chrono::steady_clock::time_point started;
  /// The server is stopping: no new work.
  bool draining = false;
};

/// Hands an answer made later (on another thread) back to the connection:
/// `make` runs on the connection's I/O thread, only if the connection still
/// waits for it, and returns the answer written. Callable from any thread.
using Responder = std::function<void(std::function<Answer()> make)>;

/// One request the handler took.
class Exchange {
 public:
  virtual ~Exchange() = default;
  /// After the transport's size check: an answer before the body is read, or
  /// nullopt to read it.
  virtual std::optional<Answer> Admit(const RequestHead& head) = 0;
  /// The whole body is here: an answer now, or nullopt and one later
  /// through `later` (exactly once). `fields` may be moved from; `body`
  /// needs to live only during the call.
  virtual std::optional<Answer> OnBody(std::string_view target, HeaderFields& fields,
                                       std::string_view body, Responder later) = 0;
  /// While a later answer is pending: when it is due (nullopt: it has come).
  virtual std::optional<std::chrono::steady_clock::time_point> Deadline() const = 0;
  /// The deadline passed: the exchange answers now through `later`.
  virtual void Expire() = 0;
  /// The transport answered `status` itself; `outcome` is a word for the log
  /// ("" when there is none).
  virtual void Ended(int status, std::string_view outcome) = 0;
};

/// What Handler::Route() decided: an answer, or an exchange to go on with.
struct Routed {
  Answer answer;
  std::shared_ptr<Exchange> exchange;
};

class Handler {
 public:
  virtual ~Handler() = default;
  /// A request's head is complete and its framing sound. Called on an I/O
  /// thread; any number of threads at once.
  virtual Routed Route(const RequestHead& head) = 0;
};

}  // namespace bridge

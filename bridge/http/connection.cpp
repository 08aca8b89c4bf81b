#include "bridge/http/connection.h"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>

#include "bridge/http/tls.h"

namespace bridge {

namespace asio = boost::asio;
namespace http = boost::beast::http;

template <class Stream>
Connection<Stream>::~Connection() {
  ctx_.connections.erase(this);
  shared_->limiter.Release(address_);
}

template <class Stream>
void Connection<Stream>::Start() {
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

/// A TLS handshake that failed: counted, logged, and plain HTTP sent to this
/// TLS port is told so in plain HTTP.
template <class Stream>
void Connection<Stream>::OnHandshakeFailed(const error_code& e) {
  if constexpr (kTls) {
    if (NoteHandshakeFailure(e, shared_->metrics)) {
      response_ = PlainHttpOnTlsAnswer();
      phase_ = Phase::kWriting;
      Arm(shared_->settings.write_timeout);
      return asio::async_write(
          Socket(), asio::buffer(response_),
          [self = this->shared_from_this()](error_code, size_t) { self->Close(); });
    }
  }
  Close();
}

template <class Stream>
void Connection<Stream>::OnStop() {
  if (phase_ == Phase::kIdle || phase_ == Phase::kHandshake || phase_ == Phase::kHead) {
    return Close();
  }
  // Otherwise the answer carries Connection: close (see Respond).
}

template <class Stream>
void Connection<Stream>::OnTimeout() {
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
      TellEnded(408);
      return Fail(408, "timeout", "the request body was not received in time.");
    case Phase::kWaiting:
      if (exchange_) exchange_->Expire();  // answers 503 through OnAnswer
      return;
    case Phase::kWriting:
      shared_->Limited(limit::kWriteTimeout);
      return Close();
    case Phase::kLinger:
    case Phase::kClosed:
      return Close();
  }
}

template <class Stream>
boost::asio::ip::tcp::socket& Connection<Stream>::Socket() {
  if constexpr (kTls) {
    return stream_.next_layer();
  } else {
    return stream_;
  }
}

// --- reading ---------------------------------------------------------------

/// Waits for bytes. A plain connection holds no buffer while it waits: it
/// reads, once readable, into the I/O thread's scratch buffer.
template <class Stream>
void Connection<Stream>::WaitRead() {
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

template <class Stream>
void Connection<Stream>::OnReadable() {
  if (phase_ == Phase::kClosed) return;
  thread_local std::vector<char> scratch(kReadChunk);
  error_code ec;
  const size_t n = Socket().read_some(asio::buffer(scratch), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return WaitRead();
  if (ec) return OnPeerGone();
  OnData(std::string_view(scratch.data(), n));
}

template <class Stream>
void Connection<Stream>::OnData(std::string_view data) {
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
template <class Stream>
void Connection<Stream>::Feed(std::string_view data) {
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
template <class Stream>
const char* Connection<Stream>::PendingOverLimit() const {
  if (phase_ != Phase::kBody || !parser_->chunked() || buffer_.empty()) return nullptr;
  return PendingChunkOverLimit(buffer_, shared_->settings.max_head_bytes);
}

/// Runs the parser over `in`; returns the bytes it consumed. Stops at the
/// end of one request (what follows is the next, pipelined one).
template <class Stream>
size_t Connection<Stream>::Drive(std::string_view in) {
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

// --- errors the transport answers ------------------------------------------

template <class Stream>
void Connection<Stream>::OnParseError(const error_code& ec) {
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
    return Fail(
        431, "request_header_fields_too_large",
        "the request head is over " + std::to_string(shared_->settings.max_head_bytes) + " bytes.");
  }
  if (parser_->limited == limit::kBodyBytes) {
    shared_->Limited(limit::kBodyBytes);
    TellEnded(413);
    return Fail(413, "payload_too_large", TooLargeSentence());
  }
  if (parser_->limited == limit::kBodyBudget) {
    shared_->Limited(limit::kBodyBudget);
    TellEnded(503);
    return Fail(503, "unavailable", BudgetSentence(), /*retry_after=*/true);
  }
  shared_->Malformed(phase_ == Phase::kBody ? malformed::kBody : malformed::kHead);
  if (phase_ == Phase::kBody) TellEnded(400, "malformed_body");
  Fail(400, "bad_request",
       phase_ == Phase::kBody ? "the request body could not be read completely."
                              : "the request is malformed.");
}

template <class Stream>
void Connection<Stream>::UriTooLong() {
  shared_->Limited(limit::kTarget);
  Fail(414, "uri_too_long",
       "the request target is over " + std::to_string(kMaxTargetBytes) + " bytes.");
}

/// A chunk-size line or a trailer section over its limit: answered, closed.
template <class Stream>
void Connection<Stream>::OverLimit(const char* what) {
  shared_->Limited(what);
  if (what == limit::kChunkLine) {
    TellEnded(400);
    return Fail(400, "bad_request",
                "a chunk-size line is over " + std::to_string(kMaxChunkLineBytes) + " bytes.");
  }
  TellEnded(431);
  Fail(431, "request_header_fields_too_large",
       "the trailer section is over " + std::to_string(shared_->settings.max_head_bytes) +
           " bytes or " + std::to_string(shared_->settings.max_headers) + " fields.");
}

template <class Stream>
std::string Connection<Stream>::TooLargeSentence() const {
  return "the body is over the limit of " + std::to_string(shared_->settings.max_body_bytes) +
         " bytes.";
}

template <class Stream>
std::string Connection<Stream>::BudgetSentence() {
  return "too many request bodies are in flight; retry later.";
}

// --- one request -------------------------------------------------------------

/// The head is complete: framing, then the handler routes it and checks
/// everything that needs no body. False when it answered (the connection
/// then closes unless there was no body).
template <class Stream>
bool Connection<Stream>::OnHead() {
  ++requests_;
  request_started_ = SteadyClock::now();
  request_id_.clear();
  for (const auto& [name, value] : parser_->fields) {
    if (IEquals(name, "X-Request-Id") && SaneRequestId(value)) request_id_ = value;
  }
  if (request_id_.empty()) request_id_ = NewRequestId();
  if (const char* why = FramingError(*parser_, obs_fold_)) {
    // What follows the head cannot be told apart from a next request:
    // answered, the rest read and dropped, the connection closed.
    shared_->Malformed(malformed::kFraming);
    Respond({400, ErrorBody("bad_request", why), false, nullptr, true, true});
    return false;
  }
  RequestHead head;
  head.method = parser_->method;
  head.target = parser_->target;
  head.fields = &parser_->fields;
  if (const auto length = parser_->content_length()) head.content_length = *length;
  head.request_id = request_id_;
  head.started = request_started_;
  head.draining = shared_->stopping;
  Routed routed = shared_->handler.Route(head);
  if (!routed.exchange) return Early(std::move(routed.answer));
  exchange_ = std::move(routed.exchange);
  return AdmitBody(head);
}

/// The route took the request: size, what the route checks before the
/// body, the budget; then read the body (after 100 Continue when asked).
template <class Stream>
bool Connection<Stream>::AdmitBody(const RequestHead& head) {
  const std::optional<std::uint64_t>& length = head.content_length;
  if (length && *length > shared_->settings.max_body_bytes) {
    shared_->Limited(limit::kBodyBytes);
    return EndEarly({413, ErrorBody("payload_too_large", TooLargeSentence())}, "payload_too_large");
  }
  if (std::optional<Answer> refused = exchange_->Admit(head)) return Early(std::move(*refused));
  if (length && !parser_->BudgetHasRoom(static_cast<size_t>(*length))) {
    shared_->Limited(limit::kBodyBudget);
    return EndEarly({503, ErrorBody("unavailable", BudgetSentence()), true}, "body_budget");
  }
  bool expect_continue = false;
  for (const auto& [name, value] : parser_->fields) {
    if (IEquals(name, "Expect")) expect_continue = IEquals(TrimView(value), "100-continue");
  }
  phase_ = Phase::kBody;
  Arm(shared_->settings.body_timeout);
  if (expect_continue && !parser_->is_done()) SendContinue();
  return true;
}

template <class Stream>
void Connection<Stream>::SendContinue() {
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

/// An answer before the body was read. The connection closes after it
/// unless there was no body to read.
template <class Stream>
bool Connection<Stream>::Early(Answer a) {
  if (!parser_->is_done()) a.close = true;
  Respond(std::move(a));
  return false;
}

/// The transport refuses a request the route took, before its body.
template <class Stream>
bool Connection<Stream>::EndEarly(Answer a, std::string_view outcome) {
  exchange_->Ended(a.status, outcome);
  return Early(std::move(a));
}

/// Tells the route (when it took the request) that the transport answered it.
template <class Stream>
void Connection<Stream>::TellEnded(int status, std::string_view outcome) {
  if (exchange_) exchange_->Ended(status, outcome);
}

/// The whole request is here: the route answers now or later.
template <class Stream>
void Connection<Stream>::OnRequest() {
  // A request that had no body to wait for was answered in OnHead.
  if (!exchange_) return;
  struct Return {  // members destroyed in reverse: the connection before its thread
    std::shared_ptr<IoThread> ctx;
    std::shared_ptr<Connection> self;
  };
  Responder later = [r = Return{ctx_.shared_from_this(), this->shared_from_this()}](
                        std::function<Answer()> make) { r.ctx->Deliver(r.self, std::move(make)); };
  const Phase before = phase_;
  phase_ = Phase::kWaiting;
  std::optional<Answer> now =
      exchange_->OnBody(parser_->target, parser_->fields, parser_->body, std::move(later));
  if (now) {
    phase_ = before;
    return Respond(std::move(*now));
  }
  // The body is in the messages now; its budget is held until the answer.
  parser_->RecycleBody();
  if (phase_ != Phase::kWaiting) return;
  if (const auto due = exchange_->Deadline()) ArmAt(*due);
}

template <class Stream>
void Connection<Stream>::OnAnswer(std::function<Answer()> make) {
  if (phase_ != Phase::kWaiting) return;
  Respond(make());
}

/// An error that ends the connection (bad framing, a limit, a deadline).
template <class Stream>
void Connection<Stream>::Fail(int status, const char* word, const std::string& sentence,
                              bool retry_after) {
  if (request_id_.empty()) request_id_ = NewRequestId();
  if constexpr (!kTls) {
    error_code ignored;
    Socket().cancel(ignored);  // a pending wait for bytes
  }
  Respond({status, ErrorBody(word, sentence), retry_after, nullptr, true});
}

template <class Stream>
void Connection<Stream>::Respond(Answer a) {
  if (phase_ == Phase::kClosed) return;
  const bool close =
      a.close || shared_->stopping || !parser_->is_header_done() || !parser_->keep_alive();
  WriteAnswer(response_, a, request_id_, shared_->settings.retry_after_seconds, close,
              parser_->method != http::verb::head);
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

template <class Stream>
void Connection<Stream>::OnWritten() {
  if (phase_ != Phase::kWriting) return;
  if (close_after_write_) return body_unread_ ? Linger() : Close();
  // Keep-alive: the next request, maybe already here (pipelined).
  NewParser();
  exchange_.reset();
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
template <class Stream>
void Connection<Stream>::Linger() {
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

template <class Stream>
void Connection<Stream>::Close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  deadline = SteadyClock::time_point::max();
  error_code ignored;
  Socket().shutdown(tcp::socket::shutdown_both, ignored);
  Socket().close(ignored);
  parser_.reset();
  exchange_.reset();
}

template <class Stream>
void Connection<Stream>::NewParser() {
  parser_.emplace(shared_->settings, shared_->budget);
  target_check_ = TargetCheck::kUndecided;
  target_scanned_ = 0;
  obs_fold_ = false;
}

template class Connection<PlainStream>;
template class Connection<TlsStream>;

}  // namespace bridge

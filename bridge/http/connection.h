#pragma once

// One connection of the webhook port: its state machine (TLS handshake, the
// read loop, the head, the body, the wait for the handler's answer, the
// write, keep-alive, linger), its deadlines and its share of the budgets.
// It lives on one I/O thread; everything here runs there.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "bridge/http/answer.h"
#include "bridge/http/framing.h"
#include "bridge/http/handler.h"
#include "bridge/http/io_thread.h"

namespace bridge {

using PlainStream = boost::asio::ip::tcp::socket;
using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

/// Instantiated for PlainStream and TlsStream (connection.cpp).
template <class Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, PlainStream>;
  using error_code = boost::system::error_code;
  using tcp = boost::asio::ip::tcp;

 public:
  template <class... StreamArgs>
  Connection(std::shared_ptr<ServerState> shared, IoThread& ctx, std::string address,
             StreamArgs&&... stream_args)
      : shared_(std::move(shared)),
        ctx_(ctx),
        address_(std::move(address)),
        stream_(std::forward<StreamArgs>(stream_args)...) {
    ctx_.connections.insert(this);
  }
  ~Connection() override;

  void Start();
  void OnStop() override;
  void OnTimeout() override;
  void OnAnswer(std::function<Answer()> make) override;

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

  tcp::socket& Socket();
  void OnHandshakeFailed(const error_code& e);

  // Deadlines.
  void Arm(std::chrono::milliseconds after) { deadline = SteadyClock::now() + after; }
  void ArmAt(SteadyClock::time_point at) { deadline = at; }

  // Reading.
  void WaitRead();
  void OnReadable();
  /// The client closed or reset the connection: nobody is left to answer.
  void OnPeerGone() { Close(); }
  void OnData(std::string_view data);
  void Feed(std::string_view data);
  const char* PendingOverLimit() const;
  size_t Drive(std::string_view in);

  // Errors the transport answers itself.
  void OnParseError(const error_code& ec);
  void UriTooLong();
  void OverLimit(const char* what);
  std::string TooLargeSentence() const;
  static std::string BudgetSentence();

  // One request.
  bool OnHead();
  bool AdmitBody(const RequestHead& head);
  void SendContinue();
  bool Early(Answer a);
  bool EndEarly(Answer a, std::string_view outcome);
  void TellEnded(int status, std::string_view outcome = {});
  void OnRequest();
  void Fail(int status, const char* word, const std::string& sentence, bool retry_after = false);
  void Respond(Answer a);
  void OnWritten();
  void Linger();
  void Close();
  void NewParser();

  std::shared_ptr<ServerState> shared_;
  IoThread& ctx_;
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
  SteadyClock::time_point request_started_{};
  std::string request_id_;
  std::shared_ptr<Exchange> exchange_;  // once the handler took the request
};

extern template class Connection<PlainStream>;
extern template class Connection<TlsStream>;

}  // namespace bridge

#pragma once

// One connection of the webhook port: its state machine (TLS handshake, the
// read loop, the head, the body, the wait for the handler's answer, the
// write, keep-alive, linger), its deadlines and its share of the budgets.
// It lives on one I/O thread; everything here runs there, except a later
// answer written by the thread that has it (AnswerHere, under mu_).

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <chrono>
#include <memory>
#include <mutex>
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
  /// A connection whose last owner lets go off its I/O thread (the thread
  /// that wrote its answer) is destroyed on that I/O thread all the same.
  template <class... StreamArgs>
  static std::shared_ptr<Connection> Make(std::shared_ptr<ServerState> shared, IoThread& ctx,
                                          std::string address, StreamArgs&&... stream_args) {
    return std::shared_ptr<Connection>(new Connection(std::move(shared), ctx, std::move(address),
                                                      std::forward<StreamArgs>(stream_args)...),
                                       DeleteOnOwnerThread{ctx.weak_from_this()});
  }
  ~Connection() override;

  void Start();
  void OnStop() override;
  void OnTimeout(SteadyClock::time_point now) override;
  void OnAnswer(std::function<Answer()> make) override;
  bool AnswerHere(std::function<Answer()>& make) override;

 private:
  struct DeleteOnOwnerThread {
    std::weak_ptr<IoThread> ctx;  // weak: its io_context's handlers own connections
    void operator()(Connection* c) const;
  };

  template <class... StreamArgs>
  Connection(std::shared_ptr<ServerState> shared, IoThread& ctx, std::string address,
             StreamArgs&&... stream_args)
      : shared_(std::move(shared)),
        ctx_(ctx),
        address_(std::move(address)),
        stream_(std::forward<StreamArgs>(stream_args)...) {
    ctx_.connections.insert(this);
  }

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
  void Arm(std::chrono::milliseconds after) { ArmAt(SteadyClock::now() + after); }
  void ArmAt(SteadyClock::time_point at) { deadline.store(at, std::memory_order_relaxed); }

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
  void TellEnded(int status);
  void OnRequest();
  void Fail(int status, const char* word, const std::string& sentence, bool retry_after = false);
  void Respond(Answer a);
  void Prepare(Answer a);
  void WriteFrom(size_t sent);
  void OnWritten();
  void NextRequest();
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
  std::mutex mu_;  // see ConnectionBase: held by whatever touches a waiting connection
};

extern template class Connection<PlainStream>;
extern template class Connection<TlsStream>;

}  // namespace bridge

#pragma once

// Opening a listening socket, shared by the webhook and admin ports.

#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <string_view>

namespace bridge {

/// Opens `acceptor` on host:port ("localhost" is 127.0.0.1) with SO_REUSEADDR
/// (restarts past TIME_WAIT), never SO_REUSEPORT (a second process on the
/// port must fail, not share it), and listens. Returns the port bound, or -1
/// with a sentence in `error` ("cannot listen on H:P<label>: ...") and the
/// acceptor closed.
int Listen(boost::asio::ip::tcp::acceptor& acceptor, const std::string& host, int port, int backlog,
           std::string_view label, std::string& error);

}  // namespace bridge

#pragma once

// TLS on the webhook port: the server context from PEM files, and what a
// failed handshake gets (plain HTTP sent to the TLS port is told so).

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <string>

#include "bridge/http/settings.h"
#include "bridge/util/metrics.h"

namespace bridge {

/// A server TLS context from the settings' PEM files, or nullptr with a
/// sentence in `error`.
std::shared_ptr<boost::asio::ssl::context> MakeTlsContext(const HttpSettings& s,
                                                          std::string& error);

/// A TLS handshake that failed: counted, logged (at most every 10 s: any
/// client can fail one). True when the client sent plain HTTP, which is then
/// to be answered with PlainHttpOnTlsAnswer().
bool NoteHandshakeFailure(const boost::system::error_code& e, Metrics& metrics);

/// The whole plain-HTTP answer (400, Connection: close) to plain HTTP sent to
/// the TLS port, as a front proxy misconfigured that way needs to hear.
std::string PlainHttpOnTlsAnswer();

}  // namespace bridge

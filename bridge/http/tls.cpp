#include "bridge/http/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <chrono>
#include <cstdint>
#include <stdexcept>

#include "bridge/http/answer.h"
#include "bridge/util/log.h"

namespace bridge {

namespace asio = boost::asio;

std::shared_ptr<asio::ssl::context> MakeTlsContext(const HttpSettings& s, std::string& error) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  try {
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use |
                     SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX* native = ctx->native_handle();
    const int min_version = s.tls_min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (SSL_CTX_set_min_proto_version(native, min_version) != 1) {
      throw std::runtime_error("cannot set the minimum TLS version");
    }
    // TLS 1.2 suites: only these (forward secret, AEAD). TLS 1.3's own
    // suites are all both.
    if (SSL_CTX_set_cipher_list(native, s.tls_ciphers.c_str()) != 1) {
      throw std::runtime_error("no usable cipher in SCHEDBRIDGE_TLS_CIPHERS");
    }
    ctx->use_certificate_chain_file(s.tls_cert_file);
    ctx->use_private_key_file(s.tls_key_file, asio::ssl::context::pem);
    if (SSL_CTX_check_private_key(native) != 1) {
      throw std::runtime_error("the key does not match the certificate");
    }
    return ctx;
  } catch (const std::exception& e) {
    std::string why = e.what();
    if (why.find("mismatch") != std::string::npos) why = "the key does not match the certificate";
    error = "cannot load the TLS certificate " + s.tls_cert_file + " / key " + s.tls_key_file +
            ": " + why;
    return nullptr;
  }
}

bool NoteHandshakeFailure(const boost::system::error_code& e, Metrics& metrics) {
  const bool plain_http =
      e.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(e.value())) == SSL_R_HTTP_REQUEST;
  const char* reason = plain_http ? "plain_http" : "handshake";
  metrics.Inc("schedbridge_tls_handshake_failures_total", {{"reason", reason}});
  static std::atomic<int64_t> last_logged_s{0};
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
  int64_t last = last_logged_s.load(std::memory_order_relaxed);
  if (now_s - last >= 10 &&
      last_logged_s.compare_exchange_strong(last, now_s, std::memory_order_relaxed)) {
    log::Warn("tls_handshake_failed",
              {{"reason", reason},
               {"error", e.message()},
               {"detail", plain_http ? "plain HTTP was sent to the TLS webhook port (a front "
                                       "proxy must speak HTTPS to it)"
                                     : ""}});
  }
  return plain_http;
}

std::string PlainHttpOnTlsAnswer() {
  const std::string body = ErrorBody("bad_request", "this port speaks TLS: send HTTPS (https://).");
  return "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace bridge

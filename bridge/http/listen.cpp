#include "bridge/http/listen.h"

namespace bridge {

int Listen(boost::asio::ip::tcp::acceptor& acceptor, const std::string& host, int port, int backlog,
           std::string_view label, std::string& error) {
  namespace asio = boost::asio;
  using tcp = asio::ip::tcp;
  const std::string where = host + ":" + std::to_string(port) + std::string(label);
  boost::system::error_code ec;
  const asio::ip::address address =
      asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) {
    error = "cannot listen on " + where + ": not an IP address.";
    return -1;
  }
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  auto fail = [&](const char* what) {
    error = "cannot listen on " + where + ": " + what + " (" + ec.message() + ").";
    boost::system::error_code ignored;
    acceptor.close(ignored);
    return -1;
  };
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("cannot open a socket");
  acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  acceptor.bind(endpoint, ec);
  if (ec) {
    return fail(ec == asio::error::address_in_use ? "the port is already in use" : "cannot bind");
  }
  acceptor.listen(backlog, ec);
  if (ec) return fail("cannot listen");
  return acceptor.local_endpoint().port();
}

}  // namespace bridge

#include "bridge/http/io_thread.h"

#include <boost/asio/post.hpp>

namespace bridge {

namespace asio = boost::asio;

void IoThread::Deliver(std::shared_ptr<ConnectionBase> connection, std::function<Answer()> make) {
  bool first = false;
  {
    std::lock_guard lock(inbox_mu);
    first = inbox.empty();
    inbox.emplace_back(std::move(connection), std::move(make));
  }
  if (first) asio::post(io, [this] { DrainInbox(); });
}

void IoThread::DrainInbox() {
  std::vector<std::pair<std::shared_ptr<ConnectionBase>, std::function<Answer()>>> batch;
  {
    std::lock_guard lock(inbox_mu);
    batch.swap(inbox);
  }
  for (auto& [connection, make] : batch) connection->OnAnswer(std::move(make));
}

void IoThread::Sweep() {
  sweep.expires_after(kSweepInterval);
  sweep.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    const SteadyClock::time_point now = SteadyClock::now();
    std::vector<ConnectionBase*> due;
    for (ConnectionBase* c : connections) {
      if (c->deadline <= now) due.push_back(c);
    }
    for (ConnectionBase* c : due) {
      // An earlier timeout's close may have released this one.
      if (connections.count(c) != 0 && c->deadline <= now) {
        c->deadline = SteadyClock::time_point::max();
        c->OnTimeout();
      }
    }
    Sweep();
  });
}

}  // namespace bridge

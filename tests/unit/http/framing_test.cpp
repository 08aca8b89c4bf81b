// The request parser's own storage: the body buffers it recycles per thread.

#include "bridge/http/framing.h"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace bridge {
namespace {

std::string Hex(size_t n) {
  char out[32];
  return std::string(out, static_cast<size_t>(std::snprintf(out, sizeof out, "%zx", n)));
}

/// Parses one whole request with a Content-Length body.
std::unique_ptr<RequestParser> ParseOne(const HttpSettings& s, ByteBudget& budget,
                                        const std::string& body) {
  auto p = std::make_unique<RequestParser>(s, budget);
  const std::string head =
      "POST /webhooks/calcom/default HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  boost::system::error_code ec;
  p->eager(true);
  size_t used = p->put(boost::asio::buffer(head), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(used, head.size());
  used = p->put(boost::asio::buffer(body), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(p->is_done());
  return p;
}

TEST(RequestParserBody, ARecycledBufferCarriesNothingIntoTheNextRequest) {
  HttpSettings s;
  ByteBudget budget(1 << 20);
  auto first = ParseOne(s, budget, std::string(3000, 'a'));
  EXPECT_EQ(first->body, std::string(3000, 'a'));
  const char* storage = first->body.data();
  first->RecycleBody();
  EXPECT_TRUE(first->body.empty());
  // The next request on this thread gets that storage back, holding only
  // its own bytes.
  const std::string next = "{\"shorter\":\"than the first one\"}";
  auto second = ParseOne(s, budget, next);
  EXPECT_EQ(second->body, next);
  EXPECT_EQ(second->body.data(), storage);
  second.reset();
  first.reset();
  EXPECT_EQ(budget.used(), 0u);  // every reserved byte was given back
}

TEST(RequestParserBody, AThreadKeepsABoundedNumberOfSmallBuffers) {
  HttpSettings s;
  ByteBudget budget(64 << 20);
  // Run on a fresh thread so other tests' spares do not count.
  std::thread([&] {
    std::vector<std::unique_ptr<RequestParser>> parsers;
    // A body over the spare size is freed, never kept, even with room.
    auto large = ParseOne(s, budget, std::string(RequestParser::kSpareBodyBytes + 1, 'y'));
    large.reset();
    EXPECT_EQ(RequestParser::SpareBodiesHeld(), 0u);
    for (size_t i = 0; i < 3 * RequestParser::kSpareBodies; ++i) {
      parsers.push_back(ParseOne(s, budget, std::string(2000, 'x')));
    }
    parsers.clear();  // every body handed back at once
    EXPECT_EQ(RequestParser::SpareBodiesHeld(), RequestParser::kSpareBodies);
    // Taking them again empties the spares; none of them is the large one.
    for (size_t i = 0; i < RequestParser::kSpareBodies; ++i) {
      parsers.push_back(ParseOne(s, budget, std::string(100, 'z')));
      EXPECT_GE(parsers.back()->body.capacity(), 2000u);
      EXPECT_LE(parsers.back()->body.capacity(), RequestParser::kSpareBodyBytes);
    }
    EXPECT_EQ(RequestParser::SpareBodiesHeld(), 0u);
  }).join();
  EXPECT_EQ(budget.used(), 0u);
}

// A Content-Length alone takes nothing from the shared budget: bytes that
// arrived do, at most twice as many, and never more than declared.
TEST(RequestParserBody, TheBudgetIsTakenAsBodyBytesArrive) {
  HttpSettings s;
  ByteBudget budget(1 << 20);
  for (const bool chunked : {false, true}) {
    RequestParser p(s, budget);
    p.eager(true);
    const std::string head = std::string("POST /webhooks/calcom HTTP/1.1\r\nHost: x\r\n") +
                             (chunked ? "Transfer-Encoding: chunked" : "Content-Length: 10000") +
                             "\r\n\r\n";
    boost::system::error_code ec;
    ASSERT_EQ(p.put(boost::asio::buffer(head), ec), head.size());
    EXPECT_EQ(budget.used(), 0u) << chunked;
    EXPECT_TRUE(p.BudgetHasRoom(1 << 20));
    EXPECT_FALSE(p.BudgetHasRoom((1 << 20) + 1));
    size_t sent = 0;
    std::string pending;
    for (const size_t piece : {1, 99, 900, 3000, 6000}) {
      pending += chunked ? Hex(piece) + "\r\n" + std::string(piece, 'b') + "\r\n"
                         : std::string(piece, 'b');
      pending.erase(0, p.put(boost::asio::buffer(pending), ec));  // Beast leaves a chunk's CRLF
      ASSERT_TRUE(!ec || ec == boost::beast::http::error::need_more) << ec.message();
      sent += piece;
      EXPECT_GE(budget.used(), sent) << chunked;
      EXPECT_LE(budget.used(), 2 * sent) << chunked;
      EXPECT_GE(p.body.capacity(), budget.used());  // the storage is what was taken
    }
    if (chunked) {
      pending += "0\r\n\r\n";
      EXPECT_EQ(p.put(boost::asio::buffer(pending), ec), pending.size()) << ec.message();
    } else {
      EXPECT_EQ(budget.used(), 10000u);
    }
    EXPECT_TRUE(p.is_done());
    EXPECT_EQ(p.body.size(), 10000u);
  }
  EXPECT_EQ(budget.used(), 0u);
}

// What the body's storage holds is what the budget gave, not a growth
// policy's round-up; and when a doubled step does not fit, the bytes that
// came still may.
TEST(RequestParserBody, TheBodyHoldsNoMoreThanItsBudget) {
  HttpSettings s;
  {
    ByteBudget budget(1 << 20);
    RequestParser p(s, budget);
    p.eager(true);
    const std::string head = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n";
    boost::system::error_code ec;
    ASSERT_EQ(p.put(boost::asio::buffer(head), ec), head.size());
    for (const size_t piece : {40000, 30000, 30000}) {  // takes 40,000, then 80,000, then 100,000
      const std::string bytes(piece, 'b');
      ASSERT_EQ(p.put(boost::asio::buffer(bytes), ec), bytes.size()) << ec.message();
      EXPECT_LE(p.body.capacity(), budget.used());
    }
    EXPECT_TRUE(p.is_done());
    EXPECT_EQ(budget.used(), 100000u);
  }
  ByteBudget budget(1000);
  RequestParser p(s, budget);
  p.eager(true);
  const std::string head = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n";
  boost::system::error_code ec;
  ASSERT_EQ(p.put(boost::asio::buffer(head), ec), head.size());
  for (const size_t piece : {400, 300, 250}) {  // the last one's doubled step (800) does not fit
    const std::string bytes(piece, 'b');
    ASSERT_EQ(p.put(boost::asio::buffer(bytes), ec), bytes.size()) << ec.message();
  }
  EXPECT_EQ(budget.used(), 950u);
  const std::string over(100, 'b');  // 1,050 in all: over the budget
  EXPECT_EQ(p.put(boost::asio::buffer(over), ec), 0u);
  EXPECT_EQ(ec, boost::beast::http::error::body_limit);
  EXPECT_STREQ(p.limited, limit::kBodyBudget);
  EXPECT_EQ(budget.used(), 950u);
}

}  // namespace
}  // namespace bridge

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "context_fixture.h"

using namespace turnout;

namespace {

using Context = test::ContextFixture;

// Records what a request parser reports, as a client connection would.
struct Recorder : HttpParser::Events {
  int heads = 0;
  int completes = 0;
  HeadAction on_head_complete() override {
    ++heads;
    return HeadAction::Continue;
  }
  void on_body(const char*, size_t) override {}
  void on_message_complete() override { ++completes; }
};

HttpParser::Status feed(RequestState& rs, const std::string& bytes) { return rs.parser->feed(bytes.data(), bytes.size()).status; }

}  // namespace

TEST_CASE("request states: a returned state comes back cleared, with a fresh parser bound to its new owner") {
  Context c;
  Recorder first, second;
  std::unique_ptr<RequestState> rs = c.ctx->take_request_state(&first);
  REQUIRE(rs->parser.has_value());
  CHECK(feed(*rs, "GET /one HTTP/1.1\r\nHost: a.test\r\nX-Long: " + std::string(600, 'x') + "\r\n\r\n") ==
        HttpParser::Status::MessageComplete);
  CHECK(first.heads == 1);
  CHECK(rs->head.str(rs->head.target) == "/one");
  const RequestState* addr = rs.get();
  size_t grown = rs->head.storage.capacity();
  CHECK(grown >= 600);

  c.ctx->return_request_state(std::move(rs));
  CHECK(c.ctx->request_states.size() == 1);

  // The next connection reuses the object and its grown buffer, but nothing of the old request.
  rs = c.ctx->take_request_state(&second);
  CHECK(rs.get() == addr);
  CHECK(c.ctx->request_states.empty());
  CHECK(rs->head.headers.empty());
  CHECK(rs->head.storage.empty());
  CHECK(rs->head.storage.capacity() == grown);
  CHECK_FALSE(rs->parser->in_message());
  CHECK(feed(*rs, "GET /two HTTP/1.1\r\nHost: b.test\r\n\r\n") == HttpParser::Status::MessageComplete);
  CHECK(second.heads == 1);
  CHECK(second.completes == 1);
  CHECK(first.heads == 1);  // the old owner hears nothing more
  CHECK(rs->head.str(rs->head.target) == "/two");
  c.ctx->return_request_state(std::move(rs));
}

TEST_CASE("request states: a parser that failed is not handed to the next connection") {
  Context c;
  Recorder events;
  std::unique_ptr<RequestState> rs = c.ctx->take_request_state(&events);
  CHECK(feed(*rs, "GET / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") ==
        HttpParser::Status::Error);
  c.ctx->return_request_state(std::move(rs));

  rs = c.ctx->take_request_state(&events);
  CHECK(rs->parser->error_status() == 0);
  CHECK(feed(*rs, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n") == HttpParser::Status::MessageComplete);
  c.ctx->return_request_state(std::move(rs));
}

TEST_CASE("request states: the pool keeps at most its cap, and never a head buffer grown large") {
  Context c;
  Recorder events;
  std::vector<std::unique_ptr<RequestState>> busy;
  for (size_t i = 0; i < ProxyContext::kMaxPooledRequests + 50; ++i) busy.push_back(c.ctx->take_request_state(&events));
  for (auto& rs : busy) c.ctx->return_request_state(std::move(rs));
  CHECK(c.ctx->request_states.size() == ProxyContext::kMaxPooledRequests);

  c.ctx->request_states.clear();
  std::unique_ptr<RequestState> big = c.ctx->take_request_state(&events);
  big->head.storage.reserve(ProxyContext::kMaxPooledHeadBytes + 1);
  c.ctx->return_request_state(std::move(big));
  CHECK(c.ctx->request_states.empty());
}

#include <doctest/doctest.h>

#include "turnout/common/address.h"
#include "turnout/common/buffer.h"
#include "turnout/common/log.h"

using namespace turnout;

TEST_CASE("parse_address: IPv4, IPv6, unix and errors") {
  auto a = parse_address("127.0.0.1:8080");
  REQUIRE(a.ok());
  CHECK(a->family() == AF_INET);
  CHECK(a->port() == 8080);
  CHECK(a->is_loopback());
  CHECK(format_address(a->sa()) == "127.0.0.1:8080");

  auto b = parse_address("[::1]:9000");
  REQUIRE(b.ok());
  CHECK(b->family() == AF_INET6);
  CHECK(b->port() == 9000);
  CHECK(b->is_loopback());
  CHECK(format_address(b->sa()) == "[::1]:9000");

  auto u = parse_address("unix:/tmp/app.sock");
  REQUIRE(u.ok());
  CHECK(u->is_unix());
  CHECK(format_address(u->sa()) == "unix:/tmp/app.sock");

  CHECK_FALSE(parse_address("127.0.0.1").ok());
  CHECK_FALSE(parse_address("127.0.0.1:99999").ok());
  CHECK_FALSE(parse_address("127.0.0.1:-1").ok());
  CHECK_FALSE(parse_address("::1:80").ok());
  CHECK_FALSE(parse_address("unix:").ok());
  CHECK_FALSE(parse_address(":80").ok());
  CHECK(parse_address("10.0.0.1:80").ok());
  CHECK_FALSE(parse_address("10.0.0.1:80")->is_loopback());
}

TEST_CASE("ChunkPool reuses chunks and caps the free list") {
  ChunkPool pool(2);
  Chunk* first;
  {
    ChunkRef a(pool.acquire());
    first = a.get();
    ChunkRef copy = a;
    CHECK(a.get()->refs == 2);
    CHECK(pool.in_use() == 1);
  }
  CHECK(pool.in_use() == 0);
  CHECK(pool.free_count() == 1);
  ChunkRef again(pool.acquire());
  CHECK(again.get() == first);  // LIFO reuse: no allocation
  {
    ChunkRef x(pool.acquire()), y(pool.acquire()), z(pool.acquire());
  }
  CHECK(pool.free_count() == 2);  // the third went back to the allocator
}

TEST_CASE("log_quote quotes what logfmt needs quoted") {
  CHECK(log_quote("plain") == "plain");
  CHECK(log_quote("two words") == "\"two words\"");
  CHECK(log_quote("a=b") == "\"a=b\"");
  CHECK(log_quote("say \"hi\"") == "\"say \\\"hi\\\"\"");
  CHECK(log_quote("") == "\"\"");
  CHECK(log_quote("line\nbreak") == "\"line\\x0abreak\"");
}

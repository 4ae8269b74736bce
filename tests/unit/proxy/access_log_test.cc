#include <doctest/doctest.h>

#include <string>

#include "turnout/proxy/access_log.h"

using namespace turnout;

namespace {
AccessRecord sample() {
  AccessRecord r;
  r.client = "10.0.0.7";
  r.host = "shop.test";
  r.method = "GET";
  r.target = "/cart?x=1";
  r.status = 200;
  r.bytes = 512;
  r.app = "shop";
  r.upstream = "127.0.0.1:9001";
  r.duration_us = 1234;
  r.request_id = "abc123";
  return r;
}
}  // namespace

TEST_CASE("access log: a text line names every field in order") {
  std::string out;
  AccessLog::format(out, sample(), "2026-12-07T06:00:00Z", 3, false);
  CHECK(out == "2026-12-07T06:00:00Z 10.0.0.7 shop.test GET /cart?x=1 h1 200 512 shop 127.0.0.1:9001 1234us w3 abc123\n");
}

TEST_CASE("access log: a request answered before its head was parsed prints dashes") {
  AccessRecord r;
  r.client = "::1";
  r.status = 408;
  std::string out;
  AccessLog::format(out, r, "T", 0, false);
  CHECK(out == "T ::1 - - - h1 408 0 - - 0us w0 -\n");
}

TEST_CASE("access log: JSON lines escape what the client controls") {
  AccessRecord r = sample();
  r.target = "/a\"b\\c\x01";
  std::string out;
  AccessLog::format(out, r, "T", 1, true);
  CHECK(out ==
        "{\"time\":\"T\",\"client\":\"10.0.0.7\",\"host\":\"shop.test\",\"method\":\"GET\",\"target\":"
        "\"/a\\\"b\\\\c\\u0001\",\"protocol\":\"h1\",\"status\":200,\"bytes\":512,\"app\":\"shop\",\"upstream\":\"127.0.0.1:9001\","
        "\"duration_us\":1234,\"worker\":1,\"request_id\":\"abc123\"}\n");
}

TEST_CASE("access log: an HTTP/2 request says h2") {
  AccessRecord r = sample();
  r.protocol = "h2";
  std::string out;
  AccessLog::format(out, r, "T", 0, false);
  CHECK(out == "T 10.0.0.7 shop.test GET /cart?x=1 h2 200 512 shop 127.0.0.1:9001 1234us w0 abc123\n");
}

TEST_CASE("access log: lines append to what the buffer already holds") {
  std::string out = "earlier\n";
  AccessLog::format(out, sample(), "T", 0, false);
  CHECK(out.rfind("earlier\nT 10.0.0.7 ", 0) == 0);
}

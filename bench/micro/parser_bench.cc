// Micro-benchmark: parse a typical ~500-byte request head N times on one keep-alive parser
// (feed, MessageComplete, resume), alone and with framing decided as the proxy does.
// Usage: parser_bench [N]   (default 1000000). Prints ns/op.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "turnout/http/framing.h"
#include "turnout/http/parser.h"

using namespace turnout;

namespace {

const char kRequest[] =
    "GET /api/v1/orders/12345?include=items,customer&sort=-created HTTP/1.1\r\n"
    "Host: shop.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://shop.example.com/orders\r\n"
    "Cookie: session=3f2a9c1e7b6d4e0f8a1b2c3d4e5f6a7b; theme=dark; consent=1\r\n"
    "X-Request-Id: 7d1e8a6c-0b2f-4c3d-9e5f-1a2b3c4d5e6f\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

struct Sink : HttpParser::Events {
  RequestHead head;
  Limits limits;
  bool decide = false;
  size_t completes = 0;
  HeadAction on_head_complete() override {
    if (decide && !decide_request_framing(head, limits)) return HeadAction::Reject;
    return HeadAction::Continue;
  }
  void on_body(const char*, size_t) override {}
  void on_message_complete() override { ++completes; }
};

double bench(size_t n, bool decide) {
  Sink sink;
  sink.decide = decide;
  HttpParser parser(HttpParser::Kind::Request, &sink.head, &sink, sink.limits);
  const size_t len = sizeof(kRequest) - 1;
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n; ++i) {
    HttpParser::Outcome o = parser.feed(kRequest, len);
    if (o.status != HttpParser::Status::MessageComplete || o.consumed != len) {
      std::fprintf(stderr, "unexpected parse outcome at %zu: %s\n", i, parser.error_reason().c_str());
      std::exit(1);
    }
    parser.resume();
  }
  auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  if (sink.completes != n) std::exit(1);
  return ns / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const size_t len = sizeof(kRequest) - 1;
  bench(n / 10 + 1, true);  // warm up
  double parse = bench(n, false);
  double with_framing = bench(n, true);
  std::printf("request head: %zu bytes, %zu iterations\n", len, n);
  std::printf("parse:           %8.1f ns/op  %7.0f MB/s\n", parse, len * 1e3 / parse);
  std::printf("parse + framing: %8.1f ns/op  %7.0f MB/s\n", with_framing, len * 1e3 / with_framing);
  return 0;
}

// Micro-benchmark: rebuild a typical ~500-byte request head for the upstream N times (and a
// typical response head for the client), appending into one reused buffer.
// Usage: rewrite_bench [N]   (default 1000000). Prints ns/op.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "turnout/http/framing.h"
#include "turnout/http/parser.h"
#include "turnout/http/rewrite.h"

using namespace turnout;

namespace {

const char kRequest[] =
    "POST /api/v1/orders?include=items HTTP/1.1\r\n"
    "Host: shop.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Cookie: session=3f2a9c1e7b6d4e0f8a1b2c3d4e5f6a7b; theme=dark; consent=1\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 512\r\n"
    "X-Forwarded-For: 203.0.113.7\r\n"
    "X-Request-Id: 7d1e8a6c-0b2f-4c3d-9e5f-1a2b3c4d5e6f\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

const char kResponse[] =
    "HTTP/1.1 200 OK\r\n"
    "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Content-Length: 2048\r\n"
    "Cache-Control: no-store\r\n"
    "Set-Cookie: session=3f2a9c1e7b6d4e0f8a1b2c3d4e5f6a7b; Path=/; HttpOnly\r\n"
    "X-Request-Id: 7d1e8a6c-0b2f-4c3d-9e5f-1a2b3c4d5e6f\r\n"
    "Connection: keep-alive\r\n"
    "Keep-Alive: timeout=5\r\n"
    "\r\n";

template <class Head>
struct Holder : HttpParser::Events {
  Head head;
  HeadAction on_head_complete() override {
    bool ok;
    if constexpr (std::is_same_v<Head, RequestHead>) ok = bool(decide_request_framing(head, Limits{}));
    else ok = bool(decide_response_framing(head, HTTP_POST));
    return ok ? HeadAction::SkipBody : HeadAction::Reject;
  }
  void on_body(const char*, size_t) override {}
  void on_message_complete() override {}
};

template <class Head>
void parse(Holder<Head>& h, HttpParser::Kind kind, const char* raw, size_t len) {
  Limits limits;
  HttpParser parser(kind, &h.head, &h, limits);
  if (parser.feed(raw, len).status != HttpParser::Status::MessageComplete) {
    std::fprintf(stderr, "parse failed: %s\n", parser.error_reason().c_str());
    std::exit(1);
  }
}

template <class Fn>
double time_ns(size_t n, Fn&& fn) {
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n; ++i) fn();
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
         static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  Holder<RequestHead> req;
  parse(req, HttpParser::Kind::Request, kRequest, sizeof(kRequest) - 1);
  Holder<ResponseHead> res;
  parse(res, HttpParser::Kind::Response, kResponse, sizeof(kResponse) - 1);

  std::string out;
  ForwardContext ctx{"198.51.100.23", "http", false};
  size_t sink = 0;
  auto upstream = [&] {
    out.clear();
    build_upstream_request(req.head, req.head.framing, ctx, out);
    sink += out.size();
  };
  auto downstream = [&] {
    out.clear();
    build_downstream_response(res.head, res.head.framing, 1, true, out);
    sink += out.size();
  };
  time_ns(n / 10 + 1, upstream);  // warm up
  double up = time_ns(n, upstream);
  size_t up_len = out.size();
  double down = time_ns(n, downstream);
  size_t down_len = out.size();
  std::printf("request head in: %zu bytes, out: %zu bytes; response head in: %zu, out: %zu; %zu iterations\n",
              sizeof(kRequest) - 1, up_len, sizeof(kResponse) - 1, down_len, n);
  std::printf("build_upstream_request:    %7.1f ns/op\n", up);
  std::printf("build_downstream_response: %7.1f ns/op\n", down);
  return sink == 0 ? 1 : 0;
}

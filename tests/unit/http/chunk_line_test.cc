#include <doctest/doctest.h>

#include <string>

#include "turnout/http/chunk_line.h"

using namespace turnout;
using namespace std::string_view_literals;
using Status = ChunkLineScanner::Status;

namespace {

struct Scanned {
  Status status = Status::NeedMore;
  uint64_t size = 0;
  size_t used = 0;   // bytes consumed in all
  std::string error;
};

// Feeds `raw` in pieces of `step` bytes (0 = at once) until the scanner is done or fails.
Scanned scan(std::string_view raw, size_t step = 0) {
  ChunkLineScanner s;
  Scanned out;
  while (out.used < raw.size() && out.status == Status::NeedMore) {
    size_t n = step == 0 ? raw.size() - out.used : std::min(step, raw.size() - out.used);
    size_t used = 0;
    out.status = s.feed(raw.data() + out.used, n, &used);
    out.used += used;
  }
  out.size = s.size();
  if (s.error()) out.error = s.error();
  return out;
}

}  // namespace

TEST_CASE("chunk-size line: valid extensions (RFC 9112 7.1.1) are accepted") {
  for (std::string_view line :
       {"2\r\n", "0002\r\n", "2;a\r\n", "2;a=b\r\n", "2;a=b;c=d\r\n", "2 ;a=b\r\n", "2\t;a=b\r\n", "2; a=b\r\n",
        "2;a = b\r\n", "2;a =b\r\n", "2;a= b\r\n", "2 ; a = b ; c\r\n", "2;a=\"b\"\r\n", "2;a=\"b\\\"c\"\r\n",
        "2;a=\"\"\r\n", "2;a=\"b;c=d\"\r\n", "2;a=\"\\\\\"\r\n", "2;a=\"x y\tz\"\r\n", "2;a=\"\x80\xff\"\r\n",
        "2;a=\"\\\x80\"\r\n", "2;name;other=\"v\"\r\n", "2;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\n"}) {
    CAPTURE(line);
    for (size_t step : {size_t(0), size_t(1), size_t(2)}) {
      Scanned s = scan(line, step);
      CHECK(s.status == Status::Done);
      CHECK(s.size == 2);
      CHECK(s.used == line.size());
    }
  }
}

TEST_CASE("chunk-size line: the size is hex, up to 2^64-1, and the scanner stops at its LF") {
  CHECK(scan("aBcD\r\n").size == 0xabcd);
  CHECK(scan("0\r\n").size == 0);
  CHECK(scan("ffffffffffffffff\r\n").size == 0xffffffffffffffffull);
  CHECK(scan("000000000000000000001\r\n").size == 1);
  Scanned s = scan("5\r\nhello");
  CHECK(s.status == Status::Done);
  CHECK(s.used == 3);
}

TEST_CASE("chunk-size line: invalid lines are refused, whole or fed byte by byte") {
  const std::string too_long = "2;" + std::string(kMaxChunkLineBytes - 2, 'x') + "\r\n";
  for (std::string_view line : {
           "\r\n"sv,                  // empty size
           ";a=b\r\n"sv,              // no size
           "g\r\n"sv, "0x5\r\n"sv, "+5\r\n"sv, "-5\r\n"sv, " 5\r\n"sv,
           "10000000000000000\r\n"sv,  // 2^64
           "fffffffffffffffff\r\n"sv,
           "5 \r\n"sv,                // whitespace not followed by ';'
           "5 a\r\n"sv,
           "2;a=b \r\n"sv,            // BWS before CRLF
           "2;a \r\n"sv,
           "2;\r\n"sv,                // no name
           "2;;a\r\n"sv,
           "2;a=\r\n"sv,              // no value
           "2;a==b\r\n"sv,
           "2;a=b=c\r\n"sv,
           "2;a=\"b\r\n"sv,           // unterminated quoted string
           "2;a=\"b\\\r\n"sv,
           "2;a=\"b\"c\r\n"sv,        // bytes after the closing quote
           "2;a=\"b\0c\"\r\n"sv,
           "2;a=\"b\x01\"\r\n"sv,
           "2;a=\"b\x7f\"\r\n"sv,
           "2;a=\"\\\x01\"\r\n"sv,    // quoted-pair of a control byte
           "2;a=b\0\r\n"sv,
           "2;a(b)\r\n"sv,            // not a token
           "2;a=b\x7f\r\n"sv,
           "2\n"sv,                   // bare LF
           "2;a=b\n"sv,
           "2\rx\n"sv,                // bare CR
           "2;a=\"b\nc\"\r\n"sv,
       }) {
    CAPTURE(line);
    Scanned whole = scan(line);
    CHECK(whole.status == Status::Error);
    CHECK_FALSE(whole.error.empty());
    CHECK(scan(line, 1).status == Status::Error);
  }
  Scanned longest = scan(too_long);
  CHECK(longest.status == Status::Done);  // exactly kMaxChunkLineBytes before the CRLF
  Scanned over = scan("2;" + std::string(kMaxChunkLineBytes, 'x') + "\r\n", 1);
  CHECK(over.status == Status::Error);
  CHECK(over.error == "chunk size line too long");
  CHECK(over.used <= kMaxChunkLineBytes + 1);  // refused as soon as the limit is passed
}

TEST_CASE("chunk-size line: reset() starts a new line; a failed scanner stays failed") {
  ChunkLineScanner s;
  size_t used = 0;
  REQUIRE(s.feed("a;x=1\r\n", 7, &used) == Status::Done);
  CHECK(s.size() == 10);
  s.reset();
  REQUIRE(s.feed("3\r\n", 3, &used) == Status::Done);
  CHECK(s.size() == 3);
  s.reset();
  CHECK(s.feed("z", 1, &used) == Status::Error);
  CHECK(s.feed("1\r\n", 3, &used) == Status::Error);
  CHECK(used == 0);
}

#include "turnout/http/cookie.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "http/head_fields.h"

using namespace turnout;
using turnout::test::add_fields;

namespace {

std::vector<std::string> pairs(std::string_view field) {
  std::vector<std::string> out;
  for_each_cookie(field, [&](std::string_view n, std::string_view v) {
    out.push_back(std::string(n) + "=" + std::string(v));
    return false;
  });
  return out;
}

}  // namespace

TEST_CASE("cookie pairs are split on ';' and trimmed; pairs without a name or '=' are skipped") {
  CHECK(pairs("a=1; b=2") == std::vector<std::string>{"a=1", "b=2"});
  CHECK(pairs("a=1;b=2;;  c = 3 ") == std::vector<std::string>{"a=1", "b=2", "c=3"});
  CHECK(pairs("flag; =x; d=") == std::vector<std::string>{"d="});
  CHECK(pairs("q=\"quoted\"; e=a=b") == std::vector<std::string>{"q=\"quoted\"", "e=a=b"});
  CHECK(pairs("").empty());
}

TEST_CASE("has_cookie reads every Cookie field, names case-sensitive, values exact") {
  RequestHead h;
  add_fields(h, {{"Host", "x"}, {"Cookie", "session=abc; theme=dark"}, {"cookie", "canary=always"}});
  CHECK(has_cookie(h, "canary", "always"));
  CHECK(has_cookie(h, "theme", "dark"));
  CHECK_FALSE(has_cookie(h, "Canary", "always"));
  CHECK_FALSE(has_cookie(h, "canary", "Always"));
  CHECK_FALSE(has_cookie(h, "canary", "alway"));
  CHECK_FALSE(has_cookie(h, "host", "x"));  // other fields are not cookies
  bool found = false;
  CHECK(find_cookie(h, "session", found) == "abc");
  CHECK(found);
  CHECK(find_cookie(h, "missing", found).empty());
  CHECK_FALSE(found);
}

TEST_CASE("has_header_value: names case-insensitive, values exact, any of several fields") {
  RequestHead h;
  add_fields(h, {{"X-Canary", "0"}, {"x-canary", "1"}});
  CHECK(has_header_value(h, "x-canary", "1"));
  CHECK(has_header_value(h, "X-CANARY", "0"));
  CHECK_FALSE(has_header_value(h, "x-canary", "2"));
  CHECK_FALSE(has_header_value(h, "x-canary", "1 "));
}

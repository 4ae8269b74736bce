#include <doctest/doctest.h>

#include "turnout/admin/http_util.h"

using namespace turnout;

TEST_CASE("split_target separates path and query, and reduces absolute form") {
  RequestTarget t = split_target("/v1/routes/a/b?wait=1");
  CHECK(t.path == "/v1/routes/a/b");
  CHECK(t.query == "wait=1");
  CHECK(split_target("/v1/routes").query.empty());
  CHECK(split_target("http://x/v1/status?x=1").path == "/v1/status");
  CHECK(split_target("http://x").path == "/");
}

TEST_CASE("percent_decode") {
  CHECK(percent_decode("unix%3A%2Frun%2Fapp.sock") == std::optional<std::string>("unix:/run/app.sock"));
  CHECK(percent_decode("127.0.0.1:9001") == std::optional<std::string>("127.0.0.1:9001"));
  CHECK(percent_decode("a+b") == std::optional<std::string>("a+b"));
  CHECK(percent_decode("%2f") == std::optional<std::string>("/"));
  CHECK(!percent_decode("%2"));
  CHECK(!percent_decode("%"));
  CHECK(!percent_decode("%zz"));
  CHECK(!percent_decode("a%00b"));
}

TEST_CASE("query parameters and flags") {
  CHECK(query_param("a=1&wait=1", "wait") == std::optional<std::string>("1"));
  CHECK(query_param("wait", "wait") == std::optional<std::string>(""));
  CHECK(!query_param("waiting=1", "wait"));
  CHECK(query_param("q=a+b%21", "q") == std::optional<std::string>("a b!"));
  CHECK(query_flag("wait=1", "wait"));
  CHECK(query_flag("wait=true", "wait"));
  CHECK(query_flag("wait", "wait"));
  CHECK(!query_flag("wait=0", "wait"));
  CHECK(!query_flag("", "wait"));
}

TEST_CASE("If-Match takes a version, bare or quoted") {
  CHECK(*parse_if_match("7") == 7);
  CHECK(*parse_if_match(" \"12\" ") == 12);
  CHECK(parse_if_match("W/\"7\"").error().kind == ErrorKind::Invalid);
  CHECK(!parse_if_match("").ok());
  CHECK(!parse_if_match("\"\"").ok());
  CHECK(!parse_if_match("-1").ok());
  CHECK(!parse_if_match("99999999999999999999").ok());
}

TEST_CASE("reason phrases") {
  CHECK(std::string(admin_reason_phrase(409)) == "Conflict");
  CHECK(std::string(admin_reason_phrase(413)) == "Content Too Large");
}

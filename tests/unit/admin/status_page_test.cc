// The status page is src/admin/status_page.html compiled in at build time: what `GET /` serves
// must be that file, byte for byte (nothing cut, nothing added, no terminating NUL).
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "turnout/admin/status_page.h"

using namespace turnout;

TEST_CASE("the status page served is src/admin/status_page.html, byte for byte") {
  std::ifstream in(std::string(TURNOUT_FIXTURES) + "/../../src/admin/status_page.html", std::ios::binary);
  REQUIRE(in.good());
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(file.size() > 1000);
  CHECK(status_page_html() == file);
  AdminResponse r = status_page_response();
  CHECK(r.body == file);
  CHECK(r.content_type == "text/html; charset=utf-8");
  CHECK(r.body.rfind("<!doctype html>", 0) == 0);
  CHECK(r.body.size() == file.size());
}

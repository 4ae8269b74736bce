#include "turnout/common/cidr.h"

#include <doctest/doctest.h>

#include "turnout/common/address.h"

using turnout::CidrRange;

namespace {
bool in(const char* range, const char* addr) {
  auto r = CidrRange::parse(range);
  REQUIRE_MESSAGE(r.ok(), range);
  auto a = turnout::parse_address(addr);
  REQUIRE_MESSAGE(a.ok(), addr);
  return r->contains(a->sa());
}
}  // namespace

TEST_CASE("IPv4 ranges") {
  CHECK(in("10.0.0.0/8", "10.255.1.2:1"));
  CHECK_FALSE(in("10.0.0.0/8", "11.0.0.1:1"));
  CHECK(in("192.168.1.0/25", "192.168.1.127:1"));
  CHECK_FALSE(in("192.168.1.0/25", "192.168.1.128:1"));
  CHECK(in("0.0.0.0/0", "8.8.8.8:1"));
  CHECK(in("127.0.0.1", "127.0.0.1:1"));
  CHECK_FALSE(in("127.0.0.1", "127.0.0.2:1"));
  CHECK_FALSE(in("10.0.0.0/8", "[::1]:1"));
}

TEST_CASE("IPv6 ranges, and IPv4 peers seen as IPv4-mapped IPv6") {
  CHECK(in("2001:db8::/32", "[2001:db8:1::5]:1"));
  CHECK_FALSE(in("2001:db8::/32", "[2001:db9::5]:1"));
  CHECK(in("::1", "[::1]:1"));
  CHECK_FALSE(in("::1/128", "127.0.0.1:1"));
  CHECK(in("10.0.0.0/8", "[::ffff:10.1.2.3]:1"));
  CHECK_FALSE(in("10.0.0.0/8", "[::ffff:11.1.2.3]:1"));
}

TEST_CASE("invalid ranges are reported") {
  for (const char* bad : {"", "10.0.0.0/33", "10.0.0.0/", "10.0.0.1/8", "::/129", "example.com", "10.0.0.0/8x",
                          "1.2.3/24"}) {
    auto r = CidrRange::parse(bad);
    CHECK_MESSAGE(!r.ok(), bad);
  }
  auto r = CidrRange::parse("10.0.0.1/8");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("host bits") != std::string::npos);
  CHECK(CidrRange::parse("2001:DB8::/32")->text() == "2001:db8::/32");
}

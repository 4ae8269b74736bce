#include "turnout/net/proxy_protocol.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <string>

#include "turnout/common/address.h"

using turnout::ProxyProtocolParser;
using Status = ProxyProtocolParser::Status;

namespace {

std::string v2_header(uint8_t ver_cmd, uint8_t fam, const std::string& body) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h.push_back(static_cast<char>(ver_cmd));
  h.push_back(static_cast<char>(fam));
  h.push_back(static_cast<char>(body.size() >> 8));
  h.push_back(static_cast<char>(body.size() & 0xff));
  return h + body;
}

std::string v4_body(const char* src, const char* dst, uint16_t sport, uint16_t dport) {
  std::string b(12, '\0');
  inet_pton(AF_INET, src, b.data());
  inet_pton(AF_INET, dst, b.data() + 4);
  b[8] = static_cast<char>(sport >> 8);
  b[9] = static_cast<char>(sport & 0xff);
  b[10] = static_cast<char>(dport >> 8);
  b[11] = static_cast<char>(dport & 0xff);
  return b;
}

std::string source_of(const ProxyProtocolParser& p) { return turnout::format_address(p.source(), true); }

}  // namespace

TEST_CASE("PROXY v1 TCP4: the client address is taken and HTTP starts right after the line") {
  ProxyProtocolParser p;
  std::string in = "PROXY TCP4 203.0.113.7 10.0.0.1 51234 8080\r\nGET / HTTP/1.1\r\n";
  auto out = p.feed(in.data(), in.size());
  REQUIRE(out.status == Status::Done);
  CHECK(out.consumed == in.find("GET"));
  CHECK(p.version() == 1);
  REQUIRE(p.has_source());
  CHECK(source_of(p) == "203.0.113.7:51234");
}

TEST_CASE("PROXY v1 TCP6 and UNKNOWN") {
  ProxyProtocolParser p6;
  std::string in = "PROXY TCP6 2001:db8::7 2001:db8::1 443 8080\r\n";
  REQUIRE(p6.feed(in.data(), in.size()).status == Status::Done);
  REQUIRE(p6.has_source());
  CHECK(source_of(p6) == "[2001:db8::7]:443");

  ProxyProtocolParser pu;
  std::string u = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n";
  auto out = pu.feed(u.data(), u.size());
  CHECK(out.status == Status::Done);
  CHECK(out.consumed == u.size());
  CHECK_FALSE(pu.has_source());
}

TEST_CASE("PROXY v1 split across reads, one byte at a time") {
  ProxyProtocolParser p;
  std::string in = "PROXY TCP4 192.0.2.1 192.0.2.2 1000 80\r\nX";
  size_t i = 0;
  for (; i < in.size(); ++i) {
    auto out = p.feed(in.data() + i, 1);
    if (out.status == Status::Done) {
      CHECK(out.consumed == 1);
      break;
    }
    REQUIRE(out.status == Status::NeedMore);
  }
  CHECK(i == in.size() - 2);  // the LF completed it; "X" is HTTP's
  CHECK(source_of(p) == "192.0.2.1:1000");
}

TEST_CASE("PROXY v1 malformed lines are refused") {
  for (std::string bad : {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",          // LF without CR
                          "PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n",      // bad address
                          "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",    // bad port
                          "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",       // leading zero
                          "PROXY TCP4 ::1 ::1 1 2\r\n",                // v6 address under TCP4
                          "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",        // not TCP
                          "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",       // double space
                          "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"}) {       // missing field
    ProxyProtocolParser p;
    CHECK_MESSAGE(p.feed(bad.data(), bad.size()).status == Status::Error, bad);
    CHECK_FALSE(p.error().empty());
  }
}

TEST_CASE("PROXY v1 longer than 107 bytes is refused without waiting for its end") {
  ProxyProtocolParser p;
  std::string in = "PROXY UNKNOWN " + std::string(200, 'a');
  auto out = p.feed(in.data(), in.size());
  CHECK(out.status == Status::Error);
  CHECK(out.consumed <= ProxyProtocolParser::kMaxV1Bytes);
  // Exactly 107 bytes is allowed.
  ProxyProtocolParser ok;
  std::string line = "PROXY UNKNOWN ";
  line += std::string(ProxyProtocolParser::kMaxV1Bytes - line.size() - 2, 'b') + "\r\n";
  REQUIRE(line.size() == ProxyProtocolParser::kMaxV1Bytes);
  CHECK(ok.feed(line.data(), line.size()).status == Status::Done);
}

TEST_CASE("HTTP or garbage instead of a header fails at the first byte that cannot start one") {
  ProxyProtocolParser p;
  std::string in = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  auto out = p.feed(in.data(), in.size());
  CHECK(out.status == Status::Error);
  CHECK(out.consumed == 1);
  ProxyProtocolParser q;
  std::string almost = "PROXZ";
  CHECK(q.feed(almost.data(), almost.size()).status == Status::Error);
  ProxyProtocolParser r;
  std::string sig("\r\n\r\n\0\r\nQUIX", 11);
  CHECK(r.feed(sig.data(), sig.size()).status == Status::Error);
}

TEST_CASE("PROXY v2 TCP4 and TCP6 with TLVs, HTTP after the announced length") {
  ProxyProtocolParser p;
  std::string tlv = std::string("\x04\x00\x03", 3) + "abc";  // a NOOP TLV is skipped
  std::string in = v2_header(0x21, 0x11, v4_body("198.51.100.9", "10.0.0.1", 40000, 80) + tlv) + "GET";
  auto out = p.feed(in.data(), in.size());
  REQUIRE(out.status == Status::Done);
  CHECK(out.consumed == in.size() - 3);
  CHECK(p.version() == 2);
  CHECK(source_of(p) == "198.51.100.9:40000");

  std::string b6(36, '\0');
  inet_pton(AF_INET6, "2001:db8::42", b6.data());
  inet_pton(AF_INET6, "2001:db8::1", b6.data() + 16);
  b6[32] = 0x01;
  b6[33] = 0xbb;
  ProxyProtocolParser q;
  std::string in6 = v2_header(0x21, 0x21, b6);
  REQUIRE(q.feed(in6.data(), in6.size()).status == Status::Done);
  CHECK(source_of(q) == "[2001:db8::42]:443");
}

TEST_CASE("PROXY v2 split across reads at every boundary") {
  std::string in = v2_header(0x21, 0x11, v4_body("192.0.2.77", "10.0.0.1", 1234, 80));
  for (size_t cut = 1; cut < in.size(); ++cut) {
    ProxyProtocolParser p;
    auto a = p.feed(in.data(), cut);
    REQUIRE(a.status == Status::NeedMore);
    CHECK(a.consumed == cut);
    auto b = p.feed(in.data() + cut, in.size() - cut);
    REQUIRE(b.status == Status::Done);
    CHECK(source_of(p) == "192.0.2.77:1234");
  }
}

TEST_CASE("PROXY v2 LOCAL and unspecified families keep the real peer") {
  ProxyProtocolParser local;
  std::string l = v2_header(0x20, 0x00, "");
  CHECK(local.feed(l.data(), l.size()).status == Status::Done);
  CHECK_FALSE(local.has_source());
  ProxyProtocolParser local_with_addr;  // LOCAL ignores any addresses it carries
  std::string la = v2_header(0x20, 0x11, v4_body("1.2.3.4", "5.6.7.8", 1, 2));
  CHECK(local_with_addr.feed(la.data(), la.size()).status == Status::Done);
  CHECK_FALSE(local_with_addr.has_source());
  ProxyProtocolParser unspec;
  std::string u = v2_header(0x21, 0x00, "");
  CHECK(unspec.feed(u.data(), u.size()).status == Status::Done);
  CHECK_FALSE(unspec.has_source());
}

TEST_CASE("PROXY v2 malformed and oversized headers are refused") {
  ProxyProtocolParser bad_version;
  std::string v = v2_header(0x11, 0x11, v4_body("1.2.3.4", "5.6.7.8", 1, 2));
  CHECK(bad_version.feed(v.data(), v.size()).status == Status::Error);
  ProxyProtocolParser bad_cmd;
  std::string c = v2_header(0x22, 0x11, v4_body("1.2.3.4", "5.6.7.8", 1, 2));
  CHECK(bad_cmd.feed(c.data(), c.size()).status == Status::Error);
  ProxyProtocolParser short_body;
  std::string s = v2_header(0x21, 0x11, std::string(8, '\0'));
  CHECK(short_body.feed(s.data(), s.size()).status == Status::Error);
  // The announced length is checked as soon as it is known, before any of it is read.
  ProxyProtocolParser huge;
  std::string h = v2_header(0x21, 0x11, "");
  h[14] = '\xff';
  h[15] = '\xff';
  auto out = huge.feed(h.data(), h.size());
  CHECK(out.status == Status::Error);
  CHECK(out.consumed == 16);
  // Truncated: a header that stops early is never Done.
  ProxyProtocolParser truncated;
  std::string t = v2_header(0x21, 0x11, v4_body("1.2.3.4", "5.6.7.8", 1, 2));
  CHECK(truncated.feed(t.data(), t.size() - 1).status == Status::NeedMore);
  CHECK_FALSE(truncated.has_source());
}

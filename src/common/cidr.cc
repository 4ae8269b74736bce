#include "turnout/common/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace turnout {

namespace {

// True when the first `bits` bits of a and b agree.
bool prefix_equal(const uint8_t* a, const uint8_t* b, unsigned bits) {
  unsigned full = bits / 8;
  if (std::memcmp(a, b, full) != 0) return false;
  unsigned rest = bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

Result<CidrRange> CidrRange::parse(std::string_view text) {
  auto bad = [&](const std::string& why) { return make_error(ErrorKind::Invalid, "'" + std::string(text) + "' " + why); };
  std::string_view addr = text;
  std::string_view len_text;
  bool has_len = false;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    len_text = text.substr(slash + 1);
    has_len = true;
  }
  CidrRange r;
  std::string host(addr);
  in_addr a4{};
  in6_addr a6{};
  unsigned max_bits = 0;
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) {
    std::memcpy(r.net_.data(), &a4, 4);
    max_bits = 32;
  } else if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) {
    std::memcpy(r.net_.data(), &a6, 16);
    r.v6_ = true;
    max_bits = 128;
  } else {
    return bad("is not an IP address or CIDR range (\"10.0.0.0/8\", \"2001:db8::/32\")");
  }
  unsigned bits = max_bits;
  if (has_len) {
    auto [ptr, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), bits);
    if (len_text.empty() || ec != std::errc() || ptr != len_text.data() + len_text.size() || bits > max_bits)
      return bad("has an invalid prefix length (0.." + std::to_string(max_bits) + ")");
  }
  // Host bits set: the operator meant something else; say so rather than guess.
  std::array<uint8_t, 16> masked = r.net_;
  for (unsigned i = 0; i < 16; ++i) {
    unsigned lo = i * 8;
    if (lo >= bits) masked[i] = 0;
    else if (lo + 8 > bits) masked[i] &= static_cast<uint8_t>(0xff << (8 - (bits - lo)));
  }
  if (masked != r.net_) return bad("has host bits set (did you mean a network address?)");
  r.prefix_ = static_cast<uint8_t>(bits);
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(r.v6_ ? AF_INET6 : AF_INET, r.net_.data(), buf, sizeof(buf));
  r.text_ = std::string(buf) + "/" + std::to_string(bits);
  return r;
}

bool CidrRange::contains(const sockaddr* sa) const {
  if (sa == nullptr) return false;
  if (sa->sa_family == AF_INET) {
    if (v6_) return false;
    auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
    return prefix_equal(reinterpret_cast<const uint8_t*>(&sin->sin_addr), net_.data(), prefix_);
  }
  if (sa->sa_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr.s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(reinterpret_cast<const in6_addr*>(a))) {
      if (v6_) return prefix_equal(a, net_.data(), prefix_);  // a ::ffff:0:0/96 range written as such
      return prefix_equal(a + 12, net_.data(), prefix_);
    }
    return v6_ && prefix_equal(a, net_.data(), prefix_);
  }
  return false;
}

bool cidr_match(const std::vector<CidrRange>& ranges, const sockaddr* addr) {
  for (const CidrRange& r : ranges)
    if (r.contains(addr)) return true;
  return false;
}

}  // namespace turnout

// CidrRange: one "10.0.0.0/8" / "2001:db8::/32" network (a bare address is a /32 or /128), for
// `trusted_proxies`. An IPv4 peer seen through a dual-stack IPv6 socket (::ffff:10.1.2.3) is
// matched as the IPv4 address it is. Plain value type, any thread.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "turnout/common/error.h"

namespace turnout {

class CidrRange {
 public:
  // "a.b.c.d/n" (n 0..32), "v6/n" (n 0..128), or a bare address. Host bits must be zero, so a
  // typo like 10.0.0.1/8 is reported instead of silently trusting all of 10/8.
  static Result<CidrRange> parse(std::string_view text);

  // Whether `addr` (AF_INET or AF_INET6; anything else never matches) lies in this network.
  bool contains(const sockaddr* addr) const;
  const std::string& text() const { return text_; }

 private:
  std::array<uint8_t, 16> net_{};  // network bytes (first 4 used for IPv4)
  uint8_t prefix_ = 0;             // prefix length in bits
  bool v6_ = false;
  std::string text_;               // normalised "net/prefix"
};

// Whether any range in `ranges` contains `addr`.
bool cidr_match(const std::vector<CidrRange>& ranges, const sockaddr* addr);

}  // namespace turnout

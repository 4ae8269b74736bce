#include "turnout/net/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace turnout {

namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr char kV2Sig[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
constexpr std::string_view kV2Signature(kV2Sig, sizeof(kV2Sig));

// A decimal port 0..65535 as v1 writes it (no sign, no leading zeros but "0" itself).
bool parse_port(std::string_view s, uint16_t& out) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v > 65535) return false;
  out = static_cast<uint16_t>(v);
  return true;
}

// Splits `line` at single spaces into at most `max` fields; false if there are more, or empty ones.
bool split_fields(std::string_view line, std::string_view* fields, size_t max, size_t& count) {
  count = 0;
  while (!line.empty()) {
    if (count == max) return false;
    size_t sp = line.find(' ');
    std::string_view f = line.substr(0, sp);
    if (f.empty()) return false;
    fields[count++] = f;
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
    if (line.empty()) return false;  // trailing space
  }
  return true;
}

}  // namespace

ProxyProtocolParser::Outcome ProxyProtocolParser::fail(std::string why, size_t consumed) {
  error_ = std::move(why);
  return {Status::Error, consumed};
}

ProxyProtocolParser::Outcome ProxyProtocolParser::feed(const char* data, size_t len) {
  if (done_) return {Status::Done, 0};
  if (!error_.empty()) return {Status::Error, 0};
  size_t used = 0;
  while (used < len) {
    // Until the signature is known, take one byte at a time so garbage fails at its first byte.
    if (version_ == 0) {
      buf_.push_back(data[used++]);
      size_t n = buf_.size();
      bool v1 = n <= kV1Prefix.size() ? kV1Prefix.substr(0, n) == buf_ : false;
      bool v2 = n <= kV2Signature.size() ? kV2Signature.substr(0, n) == buf_ : false;
      if (!v1 && !v2) return fail("not a PROXY protocol header", used);
      if (v1 && n == kV1Prefix.size()) version_ = 1;
      if (v2 && n == kV2Signature.size()) version_ = 2;
      continue;
    }
    if (version_ == 1) {
      // Up to and including the LF, within the 107-byte bound.
      size_t room = kMaxV1Bytes - buf_.size();
      const char* lf = static_cast<const char*>(std::memchr(data + used, '\n', std::min(len - used, room)));
      if (lf == nullptr) {
        size_t take = std::min(len - used, room);
        buf_.append(data + used, take);
        used += take;
        if (buf_.size() >= kMaxV1Bytes) return fail("PROXY v1 line longer than 107 bytes", used);
        continue;
      }
      size_t take = static_cast<size_t>(lf - (data + used)) + 1;
      buf_.append(data + used, take);
      used += take;
      if (!parse_v1()) return {Status::Error, used};
      done_ = true;
      return {Status::Done, used};
    }
    // v2: the fixed 16 bytes, then the announced length.
    size_t target = want_ ? want_ : 16;
    size_t take = std::min(len - used, target - buf_.size());
    buf_.append(data + used, take);
    used += take;
    if (buf_.size() < target) continue;
    if (want_ == 0) {
      uint16_t extra = static_cast<uint16_t>((static_cast<uint8_t>(buf_[14]) << 8) | static_cast<uint8_t>(buf_[15]));
      want_ = 16 + size_t{extra};
      if (want_ > kMaxV2Bytes)
        return fail("PROXY v2 header of " + std::to_string(want_) + " bytes is over the limit", used);
      if (want_ > 16) continue;
    }
    if (!parse_v2()) return {Status::Error, used};
    done_ = true;
    return {Status::Done, used};
  }
  return {Status::NeedMore, used};
}

bool ProxyProtocolParser::parse_v1() {
  std::string_view line(buf_);
  if (line.size() < 2 || line[line.size() - 2] != '\r') {
    error_ = "PROXY v1 line does not end in CRLF";
    return false;
  }
  line.remove_suffix(2);
  line.remove_prefix(kV1Prefix.size());
  // "UNKNOWN" may be followed by anything: the sender does not know (or say) who the client is.
  if (line == "UNKNOWN" || line.rfind("UNKNOWN ", 0) == 0) return true;
  std::string_view f[5];
  size_t count = 0;
  if (!split_fields(line, f, 5, count) || count != 5) {
    error_ = "PROXY v1 line is not 'PROXY TCP4|TCP6 src dst sport dport'";
    return false;
  }
  uint16_t sport = 0, dport = 0;
  if (!parse_port(f[3], sport) || !parse_port(f[4], dport)) {
    error_ = "PROXY v1 line has an invalid port";
    return false;
  }
  std::string src(f[1]), dst(f[2]);
  if (f[0] == "TCP4") {
    sockaddr_in sin{};
    in_addr d{};
    if (inet_pton(AF_INET, src.c_str(), &sin.sin_addr) != 1 || inet_pton(AF_INET, dst.c_str(), &d) != 1) {
      error_ = "PROXY v1 TCP4 line has an invalid IPv4 address";
      return false;
    }
    sin.sin_family = AF_INET;
    sin.sin_port = htons(sport);
    std::memcpy(&source_, &sin, sizeof(sin));
  } else if (f[0] == "TCP6") {
    sockaddr_in6 sin6{};
    in6_addr d{};
    if (inet_pton(AF_INET6, src.c_str(), &sin6.sin6_addr) != 1 || inet_pton(AF_INET6, dst.c_str(), &d) != 1) {
      error_ = "PROXY v1 TCP6 line has an invalid IPv6 address";
      return false;
    }
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(sport);
    std::memcpy(&source_, &sin6, sizeof(sin6));
  } else {
    error_ = "PROXY v1 protocol must be TCP4, TCP6 or UNKNOWN";
    return false;
  }
  has_source_ = true;
  return true;
}

bool ProxyProtocolParser::parse_v2() {
  auto byte = [&](size_t i) { return static_cast<uint8_t>(buf_[i]); };
  uint8_t ver_cmd = byte(12);
  if ((ver_cmd >> 4) != 2) {
    error_ = "PROXY v2 header has version " + std::to_string(ver_cmd >> 4);
    return false;
  }
  uint8_t cmd = ver_cmd & 0x0f;
  if (cmd == 0x0) return true;  // LOCAL: the balancer's own connection (health check); keep the real peer
  if (cmd != 0x1) {
    error_ = "PROXY v2 header has unknown command " + std::to_string(cmd);
    return false;
  }
  uint8_t fam = byte(13);
  size_t body = buf_.size() - 16;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(buf_.data()) + 16;
  switch (fam >> 4) {
    case 0x1: {  // AF_INET: src addr, dst addr, src port, dst port
      if (body < 12) {
        error_ = "PROXY v2 IPv4 header is too short";
        return false;
      }
      if ((fam & 0x0f) != 0x1) return true;  // not TCP over IPv4: no client address for HTTP
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      std::memcpy(&sin.sin_addr, p, 4);
      std::memcpy(&sin.sin_port, p + 8, 2);  // network order, as stored
      std::memcpy(&source_, &sin, sizeof(sin));
      has_source_ = true;
      return true;
    }
    case 0x2: {
      if (body < 36) {
        error_ = "PROXY v2 IPv6 header is too short";
        return false;
      }
      if ((fam & 0x0f) != 0x1) return true;
      sockaddr_in6 sin6{};
      sin6.sin6_family = AF_INET6;
      std::memcpy(&sin6.sin6_addr, p, 16);
      std::memcpy(&sin6.sin6_port, p + 32, 2);
      std::memcpy(&source_, &sin6, sizeof(sin6));
      has_source_ = true;
      return true;
    }
    default:
      // AF_UNSPEC or AF_UNIX: the spec says to ignore the addresses and keep the real peer.
      return true;
  }
}

}  // namespace turnout

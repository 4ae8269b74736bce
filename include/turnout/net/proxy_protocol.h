// ProxyProtocolParser: reads the PROXY protocol header (v1 text or v2 binary, haproxy's
// proxy-protocol.txt) that a load balancer in front sends before any HTTP byte on a listener
// with `proxy_protocol: true`. It runs as a layer before the HTTP parser on the client
// connection: fed the connection's first bytes (in as many reads as they arrive), it consumes
// exactly the header and says where HTTP begins.
//
// Bounded: a v1 line longer than 107 bytes, a v2 header announcing more than kMaxV2Bytes, and
// any byte that cannot start either signature are errors found as early as possible, so a
// client that sends HTTP (or garbage) to such a listener is refused at its first bytes. The
// time bound is the owner's request_header deadline.
//
// Owned by one ClientConnection until the header is done; loop thread only.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace turnout {

class ProxyProtocolParser {
 public:
  enum class Status : uint8_t {
    NeedMore,  // all input consumed, the header is not complete yet
    Done,      // header complete; `consumed` bytes of this input were header, the rest is HTTP
    Error,     // malformed, unsupported or oversized: close the connection, forward nothing
  };
  struct Outcome {
    Status status;
    size_t consumed;  // bytes of this feed() that belong to the header
  };

  // The longest v1 line the spec allows, CRLF included.
  static constexpr size_t kMaxV1Bytes = 107;
  // v2: 16 fixed bytes plus the announced length (addresses and TLVs). Addresses need at most
  // 216 (AF_UNIX); TLVs from common balancers (AWS, GCP, Azure ids, SSL info) fit well within.
  static constexpr size_t kMaxV2Bytes = 16 + 1024;

  Outcome feed(const char* data, size_t len);

  // After Done: whether the header carried a client address (v1 TCP4/TCP6, v2 PROXY with
  // AF_INET/AF_INET6). False for v1 UNKNOWN and v2 LOCAL or other families: the connection's
  // real peer stays the client.
  bool has_source() const { return has_source_; }
  // The client address (family AF_INET or AF_INET6, port set), valid when has_source().
  const sockaddr* source() const { return reinterpret_cast<const sockaddr*>(&source_); }
  // 1 or 2 once the signature is known, else 0.
  int version() const { return version_; }
  // Why the header was refused (for the debug log).
  const std::string& error() const { return error_; }

 private:
  Outcome fail(std::string why, size_t consumed);
  bool parse_v1();
  bool parse_v2();

  std::string buf_;             // header bytes so far (at most kMaxV2Bytes)
  size_t want_ = 0;             // v2: total header length once bytes 14..15 are known
  sockaddr_storage source_{};
  std::string error_;
  int version_ = 0;
  bool has_source_ = false;
  bool done_ = false;
};

}  // namespace turnout

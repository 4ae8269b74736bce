// RequestHead / ResponseHead: a parsed HTTP/1.x message head. Each head owns all of its bytes in
// `storage`; fields are offsets into it, so a head never points into a read buffer that will be
// reused (and appending to `storage` during parsing cannot dangle a view). Owned by one
// Exchange (request) or UpstreamConnection (response); worker thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "turnout/http/header.h"

namespace turnout {

// A span of MessageHead::storage.
struct Slice {
  uint32_t off = 0;
  uint32_t len = 0;
};

struct HeaderField {
  Slice name;                              // as received (case preserved)
  Slice value;                             // leading/trailing whitespace trimmed
  HeaderToken token = HeaderToken::Other;  // looked up once when the name completed
};

// How a message body is delimited (decided once, by framing.h).
enum class BodyKind : uint8_t {
  None,        // no body (GET without CL/TE, HEAD response, 1xx/204/304)
  Length,      // Content-Length: `content_length` bytes
  Chunked,     // Transfer-Encoding: chunked
  UntilClose,  // response without length: body ends when the upstream closes
};

struct Framing {
  BodyKind kind = BodyKind::None;
  uint64_t content_length = 0;  // valid for Length
};

struct MessageHead {
  std::string storage;               // owns every byte the Slices below refer to
  std::vector<HeaderField> headers;  // in received order
  uint8_t version_major = 1;
  uint8_t version_minor = 1;
  bool keep_alive = true;            // per version + Connection header (from llhttp_should_keep_alive)
  bool upgrade = false;              // Upgrade requested (request) / 101 Switching Protocols (response)

  std::string_view str(Slice s) const { return std::string_view(storage).substr(s.off, s.len); }
  std::string_view name(const HeaderField& h) const { return str(h.name); }
  std::string_view value(const HeaderField& h) const { return str(h.value); }
  // First header with this token, or nullptr.
  const HeaderField* find(HeaderToken token) const;
  // Number of headers with this token.
  size_t count(HeaderToken token) const;
  void clear();
};

struct RequestHead : MessageHead {
  uint8_t method = 0;    // llhttp_method_t value (HTTP_GET, ...)
  Slice method_name;     // as received
  Slice target;          // request-target as received (origin-, absolute-, authority- or asterisk-form)
  std::string host;      // normalised route key from Host / absolute-form authority (framing.cc)
  Slice host_header;     // the Host value as received, for X-Forwarded-Host
  bool expect_continue = false;  // "Expect: 100-continue"
  Slice upgrade_protocols;  // Upgrade protocols offered upstream: the allowed ones (upgrade.h)
  Framing framing;       // decided once at head complete
  void clear();
};

struct ResponseHead : MessageHead {
  uint16_t status = 0;
  Slice reason;
  Framing framing;
  void clear();
};

}  // namespace turnout

// HTTP/2 header fields <-> the HTTP/1.1 heads turnout forwards (RFC 9113 8.2-8.3). Pure
// conversion, no nghttp2 here: the HTTP/2 session (proxy/http2_session.h) feeds decoded fields
// in and turns the response fields out into frames. Any thread; one builder per stream.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "turnout/common/error.h"
#include "turnout/config/config.h"
#include "turnout/http/message.h"

namespace turnout {

// What a bad request header block costs the stream.
enum class H2HeadError : uint8_t {
  None,
  Malformed,  // RST_STREAM PROTOCOL_ERROR (RFC 9113 8.1.1): connection-specific field, bad pseudo-header...
  Respond,    // answered on the stream with error_status(): 431 (over max_header_bytes or
              // max_headers), 400 / 413 (refused by framing.h), 501 (CONNECT)
};

// Builds a RequestHead, as if received in HTTP/1.1, from one HTTP/2 request header block:
// "METHOD :path" as the request line, :authority (else `host`) as Host, cookie crumbs joined
// with "; " into one Cookie field, every other field as received. The head is then checked
// and framed by decide_request_framing (framing.h) like an HTTP/1.1 one, except that a body of
// unknown length (no content-length, no END_STREAM on the HEADERS) is sent upstream chunked.
class H2RequestBuilder {
 public:
  // Starts a block into `head` (cleared). `limits` bound its size and count; both outlive the
  // block.
  void begin(RequestHead* head, const Limits* limits);
  // One decoded field (names already lowercase from HPACK, checked here anyway). After an error
  // further fields are ignored and the first error stays.
  H2HeadError add(std::string_view name, std::string_view value);
  // The block ended; `end_stream`: no DATA follows. Fails with the error of add(), or Malformed
  // (missing pseudo-headers, :authority and host differing, END_STREAM with a non-zero
  // content-length), or Respond (CONNECT: 501; a head framing.h refuses: 400 or 413).
  H2HeadError finish(bool end_stream);

  // Why the block failed, for logs and error bodies; the status to answer (400, 413, 431).
  std::string_view error_reason() const { return reason_; }
  int error_status() const { return status_; }
  // Bytes of the block counted so far (name + value + 32 per field, as RFC 9113 6.5.2).
  size_t block_bytes() const { return bytes_; }
  // Fields of the block counted so far (pseudo-headers included).
  size_t field_count() const { return fields_; }
  // The content-length the request announced (DATA must add up to it), if any.
  bool has_content_length() const { return has_cl_; }
  uint64_t content_length() const { return cl_; }

 private:
  H2HeadError fail(H2HeadError e, int status, std::string_view why);
  void append_field(std::string_view name, std::string_view value);
  bool once_host();

  RequestHead* head_ = nullptr;
  const Limits* limits_ = nullptr;
  std::string cookie_;        // crumbs joined so far
  std::string authority_;     // :authority as received
  std::string host_;          // host field as received
  Slice method_{}, path_{};   // in head_->storage
  size_t bytes_ = 0;
  size_t fields_ = 0;
  uint64_t cl_ = 0;
  std::string_view reason_;
  int status_ = 0;
  H2HeadError error_ = H2HeadError::None;
  bool has_method_ = false, has_scheme_ = false, has_path_ = false, has_authority_ = false, has_host_ = false;
  bool regular_seen_ = false;  // a regular field came: pseudo-headers must all come before
  bool has_cl_ = false;
};

// Collects an HTTP/2 request trailer block (the HEADERS with END_STREAM after the body) into a
// MessageHead, for the terminal chunk of a request sent upstream chunked. Checked as RFC 9113
// 8.1-8.2 ask of any field block, with 8.1's rule for trailers: no pseudo-header at all. Its
// fields count (name + value + 32 each) on top of the request's header block against
// max_header_bytes, and with its fields against max_headers. What may be forwarded is decided
// when it is written (http/header.h allowed_in_trailer).
class H2TrailerBuilder {
 public:
  // Starts a block into `trailers` (cleared); `head_bytes` and `head_fields` are the request
  // header block's (H2RequestBuilder::block_bytes / field_count). `limits` outlives the block.
  void begin(MessageHead* trailers, const Limits* limits, size_t head_bytes, size_t head_fields);
  // One decoded field. After an error further fields are ignored and the first error stays:
  // Malformed (pseudo-header, uppercase or non-token name, bad value, connection-specific field,
  // te other than trailers) or Respond (status 431: over a limit).
  H2HeadError add(std::string_view name, std::string_view value);
  H2HeadError error() const { return error_; }
  std::string_view error_reason() const { return reason_; }

 private:
  H2HeadError fail(H2HeadError e, std::string_view why);

  MessageHead* trailers_ = nullptr;
  const Limits* limits_ = nullptr;
  size_t bytes_ = 0;   // the head block's and this block's
  size_t fields_ = 0;  // likewise
  std::string_view reason_;
  H2HeadError error_ = H2HeadError::None;
};

// The response fields for an HTTP/2 client: ":status" first, then the server's fields with
// lowercase names, without the connection-specific ones (connection, keep-alive,
// proxy-connection, transfer-encoding, upgrade, te, and any named in Connection), framing
// regenerated: content-length from `framing` (Length), or the received one passed through when
// the response has no body but may announce one (HEAD, 304). `out_storage` owns the bytes the
// pairs point into (reserved up front: it is not reallocated while the pairs are made).
void build_h2_response_fields(const ResponseHead& head, const Framing& framing, std::string& out_storage,
                              std::vector<std::pair<std::string_view, std::string_view>>& out);

// Trailer fields for an HTTP/2 client: those allowed_in_trailer (header.h) lets through (no
// connection-specific field among them), names lowercased; `out_storage` owns names and values.
void build_h2_trailer_fields(const MessageHead& trailers, std::string& out_storage,
                             std::vector<std::pair<std::string_view, std::string_view>>& out);

}  // namespace turnout

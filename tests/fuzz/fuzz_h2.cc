// libFuzzer target: a client's HTTP/2 byte stream (after the preface, which is prepended)
// through an nghttp2 server session set up as Http2Session sets it up (no automatic window
// updates, the CONTINUATION and reset limits when the library has them), with every request
// header block fed to H2RequestBuilder as the session feeds it, then the built head re-checked,
// and the response fields built for a fixed upstream head. The input's first byte picks the
// limits (bit 0: max_header_bytes 512 instead of 32768; bit 1: max_headers 4).
//
// Invariants checked:
//  - an accepted head has a token method, a target, exactly one Host (first), at most one
//    Cookie, no connection-specific field and no uppercase name; its framing is Length only with
//    a content-length field and Chunked only when DATA may follow;
//  - a refused block says why with a status the session can answer (400, 413, 431, 501);
//  - response fields start with :status and hold no connection-specific field.
#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "turnout/http/h2_headers.h"
#include "turnout/http/header.h"
#include "turnout/http/rewrite.h"

using namespace turnout;

namespace {

struct Fuzz {
  Limits limits;
  std::map<int32_t, std::unique_ptr<std::pair<RequestHead, H2RequestBuilder>>> streams;
  std::map<int32_t, std::unique_ptr<std::pair<MessageHead, H2TrailerBuilder>>> trailers;
};

#define FUZZ_CHECK(cond)                                      \
  do {                                                        \
    if (!(cond)) {                                            \
      std::fprintf(stderr, "invariant failed: %s\n", #cond); \
      std::abort();                                           \
    }                                                         \
  } while (0)

void check_head(const RequestHead& h, bool end_stream, const H2RequestBuilder& b) {
  std::string_view method = h.str(h.method_name);
  FUZZ_CHECK(!method.empty());
  for (char c : method) FUZZ_CHECK(is_tchar(c));
  FUZZ_CHECK(!h.headers.empty());
  FUZZ_CHECK(h.name(h.headers.front()) == "host");
  size_t hosts = 0, cookies = 0;
  for (const HeaderField& f : h.headers) {
    std::string_view n = h.name(f);
    FUZZ_CHECK(!n.empty());
    for (char c : n) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
    hosts += f.token == HeaderToken::Host;
    cookies += n == "cookie";
    FUZZ_CHECK(f.token != HeaderToken::Connection && f.token != HeaderToken::KeepAlive &&
               f.token != HeaderToken::ProxyConnection && f.token != HeaderToken::TransferEncoding &&
               f.token != HeaderToken::Upgrade && f.token != HeaderToken::TE);
  }
  FUZZ_CHECK(hosts == 1);
  FUZZ_CHECK(cookies <= 1);
  if (h.framing.kind == BodyKind::Length) FUZZ_CHECK(b.has_content_length());
  if (h.framing.kind == BodyKind::Chunked) FUZZ_CHECK(!end_stream && !b.has_content_length());
  FUZZ_CHECK(h.framing.kind != BodyKind::UntilClose);
}

int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* u) {
  auto& f = *static_cast<Fuzz*>(u);
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    auto& slot = f.streams[frame->hd.stream_id];
    slot = std::make_unique<std::pair<RequestHead, H2RequestBuilder>>();
    slot->second.begin(&slot->first, &f.limits);
  } else if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_HEADERS) {
    auto& slot = f.trailers[frame->hd.stream_id];
    slot = std::make_unique<std::pair<MessageHead, H2TrailerBuilder>>();
    slot->second.begin(&slot->first, &f.limits, 0, 0);
  }
  return 0;
}

// A trailer block that passed: only regular, lowercase token names and clean values, and the
// terminal chunk built from it ends exactly where it should (a trailer never ends a message early).
void check_trailers(const MessageHead& t) {
  for (const HeaderField& h : t.headers) {
    std::string_view n = t.name(h);
    FUZZ_CHECK(!n.empty());
    for (char c : n) FUZZ_CHECK(is_tchar(c) && !(c >= 'A' && c <= 'Z'));
    for (char c : t.value(h)) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
  }
  std::string last;
  build_last_chunk(&t, last);
  FUZZ_CHECK(last.compare(0, 3, "0\r\n") == 0);
  FUZZ_CHECK(last.find("\r\n\r\n") == last.size() - 4);
}

int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen, const uint8_t* value,
              size_t valuelen, uint8_t, void* u) {
  auto& f = *static_cast<Fuzz*>(u);
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_HEADERS) {
    auto t = f.trailers.find(frame->hd.stream_id);
    if (t != f.trailers.end())
      t->second->second.add(std::string_view(reinterpret_cast<const char*>(name), namelen),
                            std::string_view(reinterpret_cast<const char*>(value), valuelen));
    return 0;
  }
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto it = f.streams.find(frame->hd.stream_id);
  if (it == f.streams.end()) return 0;
  it->second->second.add(std::string_view(reinterpret_cast<const char*>(name), namelen),
                         std::string_view(reinterpret_cast<const char*>(value), valuelen));
  return 0;
}

int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* u) {
  auto& f = *static_cast<Fuzz*>(u);
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_HEADERS) {
    auto t = f.trailers.find(frame->hd.stream_id);
    if (t == f.trailers.end()) return 0;
    H2HeadError e = t->second->second.error();
    if (e == H2HeadError::None) check_trailers(t->second->first);
    else FUZZ_CHECK(!t->second->second.error_reason().empty());
    f.trailers.erase(t);
    return 0;
  }
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto it = f.streams.find(frame->hd.stream_id);
  if (it == f.streams.end()) return 0;
  bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  H2RequestBuilder& b = it->second->second;
  H2HeadError e = b.finish(end_stream);
  if (e == H2HeadError::None) {
    check_head(it->second->first, end_stream, b);
  } else {
    FUZZ_CHECK(!b.error_reason().empty());
    int st = b.error_status();
    FUZZ_CHECK(st == 400 || st == 413 || st == 431 || st == 501);
  }
  f.streams.erase(it);
  return 0;
}

ssize_t on_send(nghttp2_session*, const uint8_t*, size_t len, int, void*) { return static_cast<ssize_t>(len); }

void check_response_fields() {
  ResponseHead h;
  h.status = 200;
  auto add = [&](std::string_view n, std::string_view v) {
    HeaderField f;
    f.name = Slice{static_cast<uint32_t>(h.storage.size()), static_cast<uint32_t>(n.size())};
    h.storage.append(n);
    f.value = Slice{static_cast<uint32_t>(h.storage.size()), static_cast<uint32_t>(v.size())};
    h.storage.append(v);
    f.token = lookup_token(n);
    h.headers.push_back(f);
  };
  add("Content-Type", "a");
  add("Connection", "x-y");
  add("X-Y", "1");
  add("Transfer-Encoding", "chunked");
  std::string storage;
  std::vector<std::pair<std::string_view, std::string_view>> out;
  build_h2_response_fields(h, Framing{BodyKind::Chunked, 0}, storage, out);
  FUZZ_CHECK(!out.empty() && out[0].first == ":status");
  for (auto& [n, v] : out) FUZZ_CHECK(n != "connection" && n != "x-y" && n != "transfer-encoding");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Fuzz f;
  if (data[0] & 1) f.limits.max_header_bytes = 512;
  if (data[0] & 2) f.limits.max_headers = 4;
  ++data;
  --size;

  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_send_callback(cbs, on_send);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_max_settings(opt, 32);
#ifdef TURNOUT_HAVE_NGHTTP2_RESET_RATE
  nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
#endif
#ifdef TURNOUT_HAVE_NGHTTP2_MAX_CONTINUATIONS
  nghttp2_option_set_max_continuations(opt, 8);
#endif
  nghttp2_session* s = nullptr;
  nghttp2_session_server_new2(&s, cbs, &f, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                 {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 256 * 1024}};
  nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, 2);
  static const char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  nghttp2_session_mem_recv(s, reinterpret_cast<const uint8_t*>(kPreface), sizeof kPreface - 1);
  nghttp2_session_mem_recv(s, data, size);
  nghttp2_session_send(s);
  nghttp2_session_del(s);
  check_response_fields();
  return 0;
}

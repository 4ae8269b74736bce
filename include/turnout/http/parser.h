// HttpParser: llhttp wrapped for both directions. Callbacks only collect: the head is filled
// into a MessageHead (values split across reads are appended to its storage), body bytes are
// handed out as spans of the caller's read buffer (chunked framing already removed), the
// trailer fields of a chunked body are kept in a MessageHead of their own (trailers()), and the
// parser pauses after each complete message so a pipelined request waits until the current
// response is done (resumed from llhttp_get_error_pos, never re-parsing bytes).
//
// What llhttp 8.1 cannot express is checked here before llhttp sees the bytes: the request
// line (request_line.h: any token method, only HTTP/1.x, 414 for a long target), the bytes of
// every head and trailer section (bare CR/LF, obs-fold, control bytes, size), and each
// chunk-size line (chunk_line.h: RFC 9112 chunk extensions). llhttp then gets those lines in a
// form it parses (a stand-in for an extension method, "HTTP/1.1" for 1.2..1.9, "HEX\r\n" for a
// chunk-size line); body bytes always go to it, and to the owner, straight from the caller's
// buffer. llhttp's lenient flags are never enabled. Owned by one connection; worker thread only.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "turnout/config/config.h"
#include "turnout/http/chunk_line.h"
#include "turnout/http/message.h"

namespace turnout {

class HttpParser {
 public:
  enum class Kind { Request, Response };

  // Implemented by the connection that owns the parser.
  class Events {
   public:
    virtual ~Events() = default;
    // The head is complete (framing not yet decided). Return:
    //   HeadAction::Continue  parse the body per the head,
    //   HeadAction::SkipBody  the message has no body whatever its headers say (HEAD response;
    //                         1xx/204/304 responses and answers to HEAD are skipped regardless),
    //   HeadAction::Upgrade   stop parsing after this head: the rest of the stream is a tunnel
    //                         (feed() returns Status::Upgrade; on_message_complete is not called),
    //   HeadAction::Reject    stop with an error (the owner already decided the status).
    enum class HeadAction { Continue, SkipBody, Upgrade, Reject };
    virtual HeadAction on_head_complete() = 0;
    // Decoded body bytes; `at` points into the buffer given to feed().
    virtual void on_body(const char* at, size_t len) = 0;
    // The message is complete; the parser pauses right after this call.
    virtual void on_message_complete() = 0;
  };

  enum class Status {
    NeedMore,         // all input consumed; feed more
    MessageComplete,  // paused after a complete message; `consumed` bytes used; resume() to go on
    Upgrade,          // head complete with HeadAction::Upgrade; bytes after `consumed` are tunnel data
    Error,            // malformed input or a limit; see error_status/error_reason
  };
  struct Outcome {
    Status status = Status::NeedMore;
    size_t consumed = 0;     // bytes of this feed() used (all of them for NeedMore)
  };

  // `head` is filled by the parser and must outlive it; it is cleared at each message start.
  // Requests: limits.max_header_bytes (431), max_headers (431) apply to each head, and to the
  // head and its trailer section together.
  HttpParser(Kind kind, MessageHead* head, Events* events, const Limits& limits);
  HttpParser(const HttpParser&) = delete;
  HttpParser& operator=(const HttpParser&) = delete;

  Outcome feed(const char* data, size_t len);
  // Leave the MessageComplete pause; the next feed() starts the next message.
  void resume();
  // Responses: the request method this response answers (HEAD, CONNECT change its framing).
  void set_request_method(uint8_t method) { request_method_ = method; }
  // Tell llhttp the response stream ended (EOF): completes an until-close body. Returns false if
  // the message was incomplete (truncated).
  bool finish();
  // True between a message's first byte and its completion.
  bool in_message() const { return in_message_; }
  // The trailer section of the current (or just completed) chunked message, fields as received
  // (names checked as tokens, values trimmed, bytes scanned like a head's): empty when there was
  // none. Every field is kept, forbidden ones too: what may be forwarded is the writer's call
  // (http/header.h allowed_in_trailer). Valid until the next message starts (after resume()).
  const MessageHead& trailers() const { return trailers_; }

  int error_status() const { return error_status_; }  // 400, 414, 431, 501, 505 (502 for responses)
  const std::string& error_reason() const { return error_reason_; }

 private:
  // llhttp trampolines (parser.cc) reach the members below through parser_.data.
  friend struct ParserCallbacks;
  // Why llhttp was paused by one of our callbacks.
  enum class Pause : uint8_t { None, MessageComplete, Trailers, ChunkLine };
  // Which part of a message the next input byte belongs to, i.e. who reads it first.
  enum class Phase : uint8_t {
    StartLine,  // requests: the request line (and empty lines before it), read here
    Head,       // header section (a response's status line too): scan(), then llhttp
    Body,       // llhttp: a Content-Length or until-close body, or one chunk's data and CRLF
    ChunkLine,  // a chunk-size line: chunk_line_, then llhttp gets "HEX\r\n"
    Trailers,   // the trailer section after the last chunk: scan(), then llhttp
  };
  // Where the byte scan of the current head (or trailer section) stands.
  enum class Scan : uint8_t { Off, LineStart, InLine, SawCR };

  // Reads (part of) the request line; once it is whole and valid, hands it to llhttp and moves
  // to Phase::Head. *used: bytes taken. False on error (error_* set).
  bool read_request_line(const char* data, size_t len, size_t* used);
  // The complete request line (with its CRLF) to llhttp, in a form it parses.
  bool start_request(std::string_view with_crlf);
  // Checks head bytes before llhttp sees them (bare CR/LF, obs-fold, control bytes, size);
  // stops after the empty line that ends the head: *used is the bytes up to there. False on
  // error (error_* set).
  bool scan(const char* data, size_t len, size_t* used);
  // Runs llhttp over data[*pos, *pos + n). True when feed() returns *out now (message complete,
  // upgrade, error); false to go on from *pos in phase_.
  bool execute(const char* data, size_t* pos, size_t n, Outcome* out);
  // Runs llhttp over bytes of our own (a normalised line); false on error (error_* set).
  bool execute_own(const char* p, size_t n);
  void start_scan(bool trailers);
  void fail(int status, std::string_view reason);
  void fail_llhttp(llhttp_errno_t err);
  uint32_t max_head_bytes() const;
  uint32_t max_header_count() const;
  bool keep_alive(bool skip_body) const;

  llhttp_t parser_{};
  Kind kind_;
  MessageHead* head_;
  MessageHead trailers_;           // the current message's trailer fields (cleared at its start)
  Events* events_;
  const Limits& limits_;
  uint8_t request_method_ = 0;
  bool in_message_ = false;
  bool head_done_ = false;         // on_headers_complete ran for the current message
  bool upgrading_ = false;         // the owner chose HeadAction::Upgrade
  bool paused_ = false;            // stopped after MessageComplete until resume()
  bool failed_ = false;            // an error was reported; every later feed() fails
  bool line_cr_ = false;           // a CR ended the last input while reading empty lines or the request line
  Pause pause_ = Pause::None;
  Phase phase_ = Phase::Head;
  Scan scan_ = Scan::LineStart;
  bool scan_seen_line_ = false;    // a non-empty line was scanned (start line, or trailers)
  uint8_t method_id_ = 0;          // the current request's method (request_line.h)
  uint32_t line_len_ = 0;          // bytes in the line being scanned
  uint32_t head_bytes_ = 0;        // bytes of the current head so far (431 check)
  std::string line_;               // a request line split across feeds (capacity kept)
  ChunkLineScanner chunk_line_;    // the chunk-size line being read
  int error_status_ = 0;
  std::string error_reason_;
  // In-progress header field: 0 none, 1 name, 2 value; appended to head_->storage (trailers_
  // after the head) as fragments arrive, so a field split across feed() calls stays one
  // contiguous Slice.
  uint8_t field_state_ = 0;
};

}  // namespace turnout

// AdminConnection: one client of the admin API (unix or TCP stream) on the main loop.
//
// Built on the same two pieces as a proxied client connection: a Stream (net/stream.h) for the
// socket, its pooled reads and its writes, and the HttpParser (http/parser.h) for requests, so
// the admin API refuses exactly the malformed or ambiguous heads the proxy refuses (strict
// llhttp underneath; no lenient flag is ever set). Requests are answered one at a time: the
// parser pauses at message complete, reading stops, the request goes to the endpoint table, and
// the next pipelined request is parsed only after the answer was queued (keep-alive).
// Owner: AdminServer creates it on accept and keeps it in its set until close(); the object
// frees itself once its Stream and its timer have both closed. Replies arriving after close() are
// dropped (a shared `alive` flag), so AdminActions may answer late without harm.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "turnout/admin/api.h"
#include "turnout/admin/request_guard.h"
#include "turnout/common/buffer.h"
#include "turnout/config/config.h"
#include "turnout/http/message.h"
#include "turnout/http/parser.h"
#include "turnout/net/stream.h"

namespace turnout {

class AdminConnection final : private Stream::Owner, private HttpParser::Events {
 public:
  // What a connection needs from its server; copied into each connection.
  struct Settings {
    AdminActions* actions = nullptr;     // outlives the connection's pending replies
    size_t max_body = 1 << 20;           // larger bodies answer 413
    bool is_tcp = false;                 // the guard applies to TCP connections only
    RequestGuard guard;                  // TCP: Host, Origin, token and Content-Type checks
    std::shared_ptr<ChunkPool> chunks;   // the server's read chunks (one is made if null); shared
                                         //   because a connection may close after its server
  };
  using OnClose = std::function<void(AdminConnection*)>;

  // Serves the accepted socket `fd` (owned from this call). nullptr if that failed (then nothing
  // is left open). `on_close` runs once, when the connection starts closing.
  static AdminConnection* open(uv_loop_t* loop, int fd, Settings settings, OnClose on_close);

  // Closes the socket; the object frees itself once libuv has released both handles.
  void close();

  // Largest request head accepted: 414 for a longer request line, 431 for a longer head.
  static constexpr size_t kMaxHeadBytes = 64 * 1024;

 private:
  enum class State {
    Reading,     // parsing input; reading unless input is pending
    Dispatched,  // one request handed to the endpoint table; reading stopped
    Flushing,    // final answer queued; the Stream closes once it is written
    Closing,     // closing: waiting for the Stream's and the timer's close callbacks
  };

  AdminConnection(uv_loop_t* loop, Settings settings, OnClose on_close);
  ~AdminConnection() override = default;

  friend struct AdminConnectionCallbacks;

  // Stream::Owner
  void on_stream_read(const ChunkRef& chunk, size_t len) override;
  void on_stream_end(int status) override;
  void on_stream_drained() override {}
  void on_stream_write_error(int status) override;
  void on_stream_closed() override;

  // HttpParser::Events (collect only; the decisions are made in feed() and dispatch())
  HeadAction on_head_complete() override;
  void on_body(const char* at, size_t len) override;
  void on_message_complete() override;

  void begin_close();                       // state, alive flag, on_close, the timer's close
  void on_handle_closed();                  // one of the two handles is closed
  void on_resume();                         // the resume timer fired: parse what is pending
  void start_reading();
  void feed(const char* data, size_t len);  // runs the parser over input
  void dispatch();                          // a complete request is in request_
  void send(AdminResponse response, bool close_after);
  void fail(int status, const std::string& message);  // answer with an error and close
  void reject(int status, std::string message);       // from a parser event: answered after feed()

  Settings settings_;                       // from the server
  OnClose on_close_;                        // unregisters from the server; cleared once run
  State state_ = State::Reading;            // see State
  std::shared_ptr<ChunkPool> chunks_;       // declared before stream_: outlives its chunks
  Stream stream_;                           // the client socket
  uv_timer_t resume_timer_;                 // defers parsing of pipelined input after an answer
  int pending_closes_ = 0;                  // handles (stream, timer) still to close before `delete this`
  int fd_ = -1;                             // the socket (owned by stream_): dup'ed for a takeover
  Limits limits_;                           // the parser's head limits (it keeps a reference)
  RequestHead head_;                        // filled by parser_ (it keeps a pointer)
  HttpParser parser_;                       // request parser, shared with the proxy
  std::string pending_input_;               // bytes read past the request being answered
  AdminRequest request_;                    // the request being collected or answered
  int reject_status_ = 0;                   // answer chosen by a parser event (guard, 413)
  std::string reject_message_;              // error message for reject_status_
  bool keep_alive_ = true;                  // answer keeps the connection open
  std::shared_ptr<bool> alive_;             // false once closing: late replies are dropped
};

}  // namespace turnout

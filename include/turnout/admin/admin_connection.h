// AdminConnection: one client of the admin API (unix or TCP stream) on the main loop.
//
// Reads and parses requests with llhttp (strict: no lenient flag is ever set), one at a time:
// the parser pauses at message complete, reading stops, the request goes to the endpoint table,
// and the next pipelined request is parsed only after the answer was queued (keep-alive).
// Owner: AdminServer creates it on accept and keeps it in its set until close(); the object
// frees itself in the last close callback (stream + timer). Replies arriving after close() are
// dropped (a shared `alive` flag), so AdminActions may answer late without harm.
#pragma once

#include <llhttp.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "turnout/admin/api.h"
#include "turnout/admin/request_guard.h"

namespace turnout {

class AdminConnection {
 public:
  // What a connection needs from its server; copied into each connection.
  struct Settings {
    AdminActions* actions = nullptr;  // outlives the connection's pending replies
    size_t max_body = 1 << 20;        // larger bodies answer 413
    bool is_tcp = false;              // the guard applies to TCP connections only
    RequestGuard guard;               // TCP: Host, Origin, token and Content-Type checks
  };
  using OnClose = std::function<void(AdminConnection*)>;

  // Serves the accepted socket `fd` (owned from this call). nullptr if that failed (then nothing
  // is left open). `on_close` runs once, when close() is first called.
  static AdminConnection* open(uv_loop_t* loop, int fd, Settings settings, OnClose on_close);

  // Closes the socket; the object frees itself once libuv has released both handles.
  void close();

  // Largest request head accepted (431 above).
  static constexpr size_t kMaxHeadBytes = 64 * 1024;

 private:
  enum class State {
    Reading,     // parsing input; reading unless input is pending
    Dispatched,  // one request handed to the endpoint table; reading stopped
    Flushing,    // final answer queued; closing once it is written
    Closing,     // uv_close called; waiting for close callbacks
  };
  struct WriteReq;

  AdminConnection(Settings settings, OnClose on_close);
  ~AdminConnection() = default;

  // Targets of the libuv and llhttp trampolines (admin_connection.cc).
  friend struct AdminConnectionTrampolines;
  void on_read(ssize_t nread, const uv_buf_t* buf);
  void on_written(int status);
  void on_resume();
  void on_handle_closed();

  void start_reading();
  void feed(const char* data, size_t len);  // runs the parser over input
  void dispatch();                          // a complete request is in request_
  void send(AdminResponse response, bool close_after);
  bool write_raw(std::string bytes);        // queues bytes; false (and closed) on error
  void fail(int status, const std::string& message);  // answer with an error and close
  void reset_request();

  // llhttp callbacks (collect only).
  int on_url(const char* at, size_t len);
  int on_header_field(const char* at, size_t len);
  int on_header_value(const char* at, size_t len);
  int on_header_value_complete();
  int on_headers_complete();
  int on_body(const char* at, size_t len);
  int on_message_complete();

  Settings settings_;                       // from the server
  OnClose on_close_;                        // unregisters from the server; cleared once run
  State state_ = State::Reading;            // see State
  union {
    uv_pipe_t pipe;
    uv_tcp_t tcp;
  } stream_;                                // the client socket
  uv_timer_t resume_timer_;                 // defers parsing of pipelined input after an answer
  int pending_closes_ = 0;                  // handles still to be closed before `delete this`
  bool reading_ = false;                    // uv_read_start active
  int writes_in_flight_ = 0;                // uv_write requests not yet called back
  llhttp_t parser_;                         // request parser (strict)
  char read_buf_[16 * 1024];                // one read at a time; copied out before the next
  std::string pending_input_;               // bytes read past the request being answered
  AdminRequest request_;                    // the request being collected or answered
  std::string header_field_;                // header name being collected (split reads)
  std::string header_value_;                // header value being collected
  size_t head_bytes_ = 0;                   // request head size so far (431 above kMaxHeadBytes)
  int reject_status_ = 0;                   // status to answer when a callback stopped the parser
  std::string reject_message_;              // error message for reject_status_
  bool keep_alive_ = true;                  // answer keeps the connection open
  std::shared_ptr<bool> alive_;             // false once closing: late replies are dropped
};

}  // namespace turnout

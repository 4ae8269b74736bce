#include "turnout/admin/admin_connection.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "turnout/admin/http_util.h"
#include "turnout/common/log.h"

namespace turnout {

// A write request owns its bytes until libuv calls it back (STYLE.md pattern 11).
struct AdminConnection::WriteReq {
  uv_write_t req;         // libuv request; req.data points back here
  std::string bytes;      // the answer being written
  AdminConnection* conn;  // valid while the request is not cancelled (see on_write)
};

// Thin trampolines: cast `data`, call the member (STYLE.md pattern 10).
struct AdminConnectionTrampolines {
  static AdminConnection* of(void* data) { return static_cast<AdminConnection*>(data); }

  static void on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
    AdminConnection* c = of(handle->data);
    *buf = uv_buf_init(c->read_buf_, sizeof c->read_buf_);
  }
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    of(stream->data)->on_read(nread, buf);
  }
  static void on_write(uv_write_t* req, int status) {
    auto* w = static_cast<AdminConnection::WriteReq*>(req->data);
    if (status == UV_ECANCELED) {  // the connection is closing: touch only our own memory
      delete w;
      return;
    }
    AdminConnection* conn = w->conn;
    delete w;
    conn->on_written(status);
  }
  static void on_timer(uv_timer_t* timer) { of(timer->data)->on_resume(); }
  static void on_close(uv_handle_t* handle) { of(handle->data)->on_handle_closed(); }

  static int url(llhttp_t* p, const char* at, size_t len) { return of(p->data)->on_url(at, len); }
  static int field(llhttp_t* p, const char* at, size_t len) { return of(p->data)->on_header_field(at, len); }
  static int value(llhttp_t* p, const char* at, size_t len) { return of(p->data)->on_header_value(at, len); }
  static int value_complete(llhttp_t* p) { return of(p->data)->on_header_value_complete(); }
  static int headers_complete(llhttp_t* p) { return of(p->data)->on_headers_complete(); }
  static int body(llhttp_t* p, const char* at, size_t len) { return of(p->data)->on_body(at, len); }
  static int message_complete(llhttp_t* p) { return of(p->data)->on_message_complete(); }

  static const llhttp_settings_t* settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t x;
      llhttp_settings_init(&x);
      x.on_url = url;
      x.on_header_field = field;
      x.on_header_value = value;
      x.on_header_value_complete = value_complete;
      x.on_headers_complete = headers_complete;
      x.on_body = body;
      x.on_message_complete = message_complete;
      return x;
    }();
    return &s;
  }
};

namespace {

using T = AdminConnectionTrampolines;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string error_body(std::string_view message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

AdminConnection::AdminConnection(Settings settings, OnClose on_close)
    : settings_(std::move(settings)), on_close_(std::move(on_close)), alive_(std::make_shared<bool>(true)) {
  llhttp_init(&parser_, HTTP_REQUEST, T::settings());
  parser_.data = this;
}

AdminConnection* AdminConnection::open(uv_loop_t* loop, int fd, Settings settings, OnClose on_close) {
  auto* c = new AdminConnection(std::move(settings), std::move(on_close));
  int rc = c->settings_.is_tcp ? uv_tcp_init(loop, &c->stream_.tcp) : uv_pipe_init(loop, &c->stream_.pipe, 0);
  if (rc != 0) {  // no handle exists yet: plain delete is right
    ::close(fd);
    delete c;
    return nullptr;
  }
  if (c->settings_.is_tcp) {
    c->stream_.tcp.data = c;
  } else {
    c->stream_.pipe.data = c;
  }
  uv_timer_init(loop, &c->resume_timer_);
  c->resume_timer_.data = c;
  c->pending_closes_ = 2;
  rc = c->settings_.is_tcp ? uv_tcp_open(&c->stream_.tcp, fd) : uv_pipe_open(&c->stream_.pipe, fd);
  if (rc != 0) {  // the handle did not take the fd
    ::close(fd);
    TLOG_WARN("admin connection failed", "error={}", uv_strerror(rc));
    c->on_close_ = nullptr;
    c->close();
    return nullptr;
  }
  c->start_reading();
  if (c->state_ == State::Closing) return nullptr;  // it frees itself; the server must not keep it
  return c;
}

void AdminConnection::close() {
  if (state_ == State::Closing) return;
  state_ = State::Closing;
  *alive_ = false;
  if (on_close_) {
    OnClose cb = std::move(on_close_);
    on_close_ = nullptr;
    cb(this);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&stream_), T::on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&resume_timer_), T::on_close);
}

void AdminConnection::on_handle_closed() {
  if (--pending_closes_ == 0) delete this;
}

void AdminConnection::start_reading() {
  if (reading_ || state_ != State::Reading) return;
  int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&stream_), T::on_alloc, T::on_read);
  if (rc != 0) {
    close();
    return;
  }
  reading_ = true;
}

void AdminConnection::on_read(ssize_t nread, const uv_buf_t* buf) {
  if (state_ != State::Reading) return;
  if (nread < 0) {  // EOF or reset: an unfinished request is dropped with the connection
    if (writes_in_flight_ > 0) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&stream_));
      reading_ = false;
      state_ = State::Flushing;  // let the last answer go out first
    } else {
      close();
    }
    return;
  }
  if (nread > 0) feed(buf->base, static_cast<size_t>(nread));
}

void AdminConnection::feed(const char* data, size_t len) {
  llhttp_errno_t err = llhttp_execute(&parser_, data, len);
  if (err == HPE_OK) return;
  if (err == HPE_PAUSED) {  // a request is complete; keep what follows for later (llhttp #585)
    const char* pos = llhttp_get_error_pos(&parser_);
    if (pos == nullptr || pos < data || pos > data + len) pos = data + len;
    pending_input_.assign(pos, static_cast<size_t>(data + len - pos));
    dispatch();
    return;
  }
  if (reject_status_ != 0) {
    fail(reject_status_, reject_message_);
    return;
  }
  const char* reason = llhttp_get_error_reason(&parser_);
  fail(400, fmt::format("malformed request: {}", reason ? reason : llhttp_errno_name(err)));
}

void AdminConnection::dispatch() {
  state_ = State::Dispatched;
  if (reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&stream_));
    reading_ = false;
  }
  // The request moves out of the parser's reach: the handler may keep it until it replies.
  auto request = std::make_shared<AdminRequest>(std::move(request_));
  reset_request();
  if (!settings_.is_tcp && request->method == "POST" && request->target == "/v1/takeover") {
    // A new turnout process (binary upgrade) wants our sockets: the connection leaves HTTP and
    // becomes the hand-off channel, owned by AdminActions through a dup of its descriptor.
    uv_os_fd_t fd = -1;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&stream_), &fd) == 0) {
      int mine = ::dup(fd);
      if (mine >= 0) settings_.actions->takeover(mine);
    }
    close();
    return;
  }
  auto alive = alive_;
  auto replied = std::make_shared<bool>(false);
  AdminConnection* self = this;
  handle_admin_request(*settings_.actions, *request, [alive, replied, self, request](AdminResponse response) {
    if (!*alive || *replied) return;  // connection gone, or a second answer
    *replied = true;
    self->send(std::move(response), !self->keep_alive_);
  });
}

void AdminConnection::reset_request() {
  request_ = AdminRequest{};
  header_field_.clear();
  header_value_.clear();
  head_bytes_ = 0;
}

bool AdminConnection::write_raw(std::string bytes) {
  auto* w = new WriteReq{};
  w->bytes = std::move(bytes);
  w->conn = this;
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&stream_), &buf, 1, T::on_write);
  if (rc != 0) {
    delete w;
    close();
    return false;
  }
  ++writes_in_flight_;
  return true;
}

void AdminConnection::send(AdminResponse response, bool close_after) {
  if (state_ == State::Closing || state_ == State::Flushing) return;
  std::string out = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
                                response.status, admin_reason_phrase(response.status), response.content_type,
                                response.body.size());
  for (const auto& [name, value] : response.headers) out += fmt::format("{}: {}\r\n", name, value);
  if (close_after) out += "Connection: close\r\n";
  out += "\r\n";
  out += response.body;
  if (!write_raw(std::move(out))) return;
  if (close_after) {
    if (reading_) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&stream_));
      reading_ = false;
    }
    state_ = State::Flushing;
    return;
  }
  // Pipelined input is parsed on the next loop turn, never inside the caller's stack (which
  // may be AdminActions' `done`).
  state_ = State::Reading;
  uv_timer_start(&resume_timer_, T::on_timer, 0, 0);
}

void AdminConnection::fail(int status, const std::string& message) {
  AdminResponse response;
  response.status = status;
  response.body = error_body(message);
  if (status == 401) response.headers.emplace_back("WWW-Authenticate", "Bearer");
  keep_alive_ = false;
  if (state_ == State::Dispatched) state_ = State::Reading;  // not expected; send() needs an open state
  send(std::move(response), true);
}

void AdminConnection::on_written(int status) {
  --writes_in_flight_;
  if (state_ == State::Closing) return;
  if (status < 0 || (state_ == State::Flushing && writes_in_flight_ == 0)) close();
}

void AdminConnection::on_resume() {
  if (state_ != State::Reading) return;
  llhttp_resume(&parser_);
  std::string input = std::move(pending_input_);
  pending_input_.clear();
  if (!input.empty()) {
    feed(input.data(), input.size());
    if (state_ != State::Reading) return;
  }
  start_reading();
}

int AdminConnection::on_url(const char* at, size_t len) {
  head_bytes_ += len;
  if (head_bytes_ > kMaxHeadBytes) {
    reject_status_ = 414;
    reject_message_ = "request target too long";
    return HPE_USER;
  }
  request_.target.append(at, len);
  return 0;
}

int AdminConnection::on_header_field(const char* at, size_t len) {
  head_bytes_ += len;
  if (head_bytes_ > kMaxHeadBytes) {
    reject_status_ = 431;
    reject_message_ = "request header fields too large";
    return HPE_USER;
  }
  header_field_.append(at, len);
  return 0;
}

int AdminConnection::on_header_value(const char* at, size_t len) {
  head_bytes_ += len;
  if (head_bytes_ > kMaxHeadBytes) {
    reject_status_ = 431;
    reject_message_ = "request header fields too large";
    return HPE_USER;
  }
  header_value_.append(at, len);
  return 0;
}

int AdminConnection::on_header_value_complete() {
  while (!header_value_.empty() && (header_value_.back() == ' ' || header_value_.back() == '\t')) {
    header_value_.pop_back();
  }
  request_.headers.emplace_back(lower(header_field_), std::move(header_value_));
  header_field_.clear();
  header_value_.clear();
  return 0;
}

int AdminConnection::on_headers_complete() {
  request_.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
  if (settings_.is_tcp) {
    bool has_body = (parser_.flags & F_CHUNKED) != 0 ||
                    ((parser_.flags & F_CONTENT_LENGTH) != 0 && parser_.content_length > 0);
    RequestGuard::Verdict verdict = settings_.guard.check(request_, has_body);
    if (verdict.status != 0) {
      reject_status_ = verdict.status;
      reject_message_ = std::move(verdict.message);
      return -1;
    }
  }
  if ((parser_.flags & F_CONTENT_LENGTH) && parser_.content_length > settings_.max_body) {
    reject_status_ = 413;
    reject_message_ = fmt::format("request body over {} bytes", settings_.max_body);
    return -1;
  }
  const std::string* expect = request_.header("expect");
  if (expect != nullptr && lower(*expect) == "100-continue" && parser_.http_minor >= 1) {
    if (!write_raw("HTTP/1.1 100 Continue\r\n\r\n")) return -1;
  }
  return 0;
}

int AdminConnection::on_body(const char* at, size_t len) {
  if (request_.body.size() + len > settings_.max_body) {
    reject_status_ = 413;
    reject_message_ = fmt::format("request body over {} bytes", settings_.max_body);
    return HPE_USER;
  }
  request_.body.append(at, len);
  return 0;
}

int AdminConnection::on_message_complete() {
  keep_alive_ = llhttp_should_keep_alive(&parser_) != 0 && parser_.upgrade == 0;
  return HPE_PAUSED;  // one request at a time (STYLE.md pattern 15)
}

}  // namespace turnout

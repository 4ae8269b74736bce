#include "turnout/admin/admin_connection.h"

#include <unistd.h>

#include <cctype>
#include <utility>

#include <fmt/format.h>

#include "turnout/admin/http_util.h"
#include "turnout/common/log.h"
#include "turnout/http/framing.h"
#include "turnout/http/header.h"
#include "turnout/http/request_line.h"

namespace turnout {

// Thin trampolines: cast `data`, call the member (STYLE.md pattern 10).
struct AdminConnectionCallbacks {
  static AdminConnection* of(void* data) { return static_cast<AdminConnection*>(data); }
  static void on_timer(uv_timer_t* timer) { of(timer->data)->on_resume(); }
  static void on_timer_closed(uv_handle_t* handle) { of(handle->data)->on_handle_closed(); }
};

namespace {

using T = AdminConnectionCallbacks;

constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr size_t kIdleChunks = 4;  // read chunks an idle admin server keeps (64 KiB each)

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string error_body(std::string_view message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The head limits of the admin API: a generous head, no header count limit (the size bounds it),
// and no body limit in the parser (max_body is checked here, to answer 413 with its size).
Limits admin_limits() {
  Limits l;
  l.max_header_bytes = static_cast<uint32_t>(AdminConnection::kMaxHeadBytes);
  l.max_headers = 0;
  l.max_body_bytes = 0;
  return l;
}

}  // namespace

AdminConnection::AdminConnection(uv_loop_t* loop, Settings settings, OnClose on_close)
    : settings_(std::move(settings)),
      on_close_(std::move(on_close)),
      chunks_(settings_.chunks ? settings_.chunks : std::make_shared<ChunkPool>(kIdleChunks)),
      stream_(loop, *chunks_, this),
      limits_(admin_limits()),
      parser_(HttpParser::Kind::Request, &head_, this, limits_),
      alive_(std::make_shared<bool>(true)) {}

AdminConnection* AdminConnection::open(uv_loop_t* loop, int fd, Settings settings, OnClose on_close) {
  auto* c = new AdminConnection(loop, std::move(settings), std::move(on_close));
  int rc = c->settings_.is_tcp ? c->stream_.init_tcp() : c->stream_.init_pipe();
  if (rc != 0) {  // no handle exists yet: plain delete is right
    ::close(fd);
    delete c;
    return nullptr;
  }
  uv_timer_init(loop, &c->resume_timer_);
  c->resume_timer_.data = c;
  c->pending_closes_ = 2;
  rc = c->settings_.is_tcp ? uv_tcp_open(reinterpret_cast<uv_tcp_t*>(c->stream_.handle()), fd)
                           : uv_pipe_open(reinterpret_cast<uv_pipe_t*>(c->stream_.handle()), fd);
  if (rc != 0) {  // the handle did not take the fd
    ::close(fd);
    TLOG_WARN("admin connection failed", "error={}", uv_strerror(rc));
    c->on_close_ = nullptr;
    c->close();
    return nullptr;
  }
  c->fd_ = fd;
  c->start_reading();
  return c;
}

void AdminConnection::close() {
  if (state_ == State::Closing) return;
  begin_close();
  stream_.close();  // a no-op if the Stream already closes itself (close_after_flush)
}

void AdminConnection::begin_close() {
  state_ = State::Closing;
  *alive_ = false;
  if (on_close_) {
    OnClose cb = std::move(on_close_);
    on_close_ = nullptr;
    cb(this);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&resume_timer_), T::on_timer_closed);
}

void AdminConnection::on_stream_closed() {
  // The Stream closes on its own after a final answer was written (close_after_flush).
  if (state_ != State::Closing) begin_close();
  on_handle_closed();
}

void AdminConnection::on_handle_closed() {
  if (--pending_closes_ == 0) delete this;
}

void AdminConnection::start_reading() {
  if (state_ == State::Reading) stream_.start_read();
}

void AdminConnection::on_stream_read(const ChunkRef& chunk, size_t len) {
  if (state_ != State::Reading) return;
  feed(chunk.data(), len);
}

void AdminConnection::on_stream_end(int status) {
  // EOF or reset: an unfinished request is dropped with the connection, after the last answer.
  if (state_ == State::Closing) return;
  if (!stream_.flushed()) {
    stream_.stop_read();
    state_ = State::Flushing;
    stream_.close_after_flush();
    return;
  }
  close();
}

void AdminConnection::on_stream_write_error(int status) { close(); }

void AdminConnection::feed(const char* data, size_t len) {
  HttpParser::Outcome out = parser_.feed(data, len);
  if (state_ == State::Closing) return;  // a write failed inside a parser event
  if (reject_status_ != 0) {  // the guard or the body limit refused the request
    fail(reject_status_, reject_message_);
    return;
  }
  switch (out.status) {
    case HttpParser::Status::NeedMore:
      return;
    case HttpParser::Status::MessageComplete:
      // A request is complete; keep what follows for after the answer (llhttp #585).
      pending_input_.assign(data + out.consumed, len - out.consumed);
      dispatch();
      return;
    case HttpParser::Status::Upgrade:  // never chosen in on_head_complete
    case HttpParser::Status::Error:
      break;
  }
  // The admin API's own words for the limits; anything else the parser refuses (a bad head, a
  // method or version it does not take: its 501/505 included) is the admin API's 400.
  int status = parser_.error_status();
  if (status == 431) return fail(431, "request header fields too large");
  if (status == 414) return fail(414, "request target too long");
  fail(400, fmt::format("malformed request: {}", parser_.error_reason()));
}

void AdminConnection::dispatch() {
  state_ = State::Dispatched;
  stream_.stop_read();
  // The request moves out of the parser's reach: the handler may keep it until it replies.
  auto request = std::make_shared<AdminRequest>(std::move(request_));
  request_ = AdminRequest{};
  if (!settings_.is_tcp && request->method == "POST" && request->target == "/v1/takeover") {
    // A new turnout process (binary upgrade) wants our sockets: the connection leaves HTTP and
    // becomes the hand-off channel, owned by AdminActions through a dup of its descriptor (fd_
    // stays open until the Stream closes below).
    int mine = fd_ >= 0 ? ::dup(fd_) : -1;
    if (mine >= 0) settings_.actions->takeover(mine);
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

void AdminConnection::send(AdminResponse response, bool close_after) {
  if (state_ == State::Closing || state_ == State::Flushing) return;
  std::string out = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
                                response.status, admin_reason_phrase(response.status), response.content_type,
                                response.body.size());
  for (const auto& [name, value] : response.headers) out += fmt::format("{}: {}\r\n", name, value);
  if (close_after) out += "Connection: close\r\n";
  out += "\r\n";
  out += response.body;
  stream_.write_owned(std::move(out));
  if (close_after) {
    stream_.stop_read();
    state_ = State::Flushing;
    stream_.close_after_flush();  // closes the Stream (and then this) once the answer is written
    return;
  }
  stream_.flush();
  if (state_ == State::Closing) return;  // the write failed
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

void AdminConnection::reject(int status, std::string message) {
  if (reject_status_ != 0) return;  // the first reason is the answer
  reject_status_ = status;
  reject_message_ = std::move(message);
}

void AdminConnection::on_resume() {
  if (state_ != State::Reading) return;
  parser_.resume();
  std::string input = std::move(pending_input_);
  pending_input_.clear();
  if (!input.empty()) {
    feed(input.data(), input.size());
    if (state_ != State::Reading) return;
  }
  start_reading();
}

HttpParser::Events::HeadAction AdminConnection::on_head_complete() {
  if (head_.method == kMethodExtension) {
    // The proxy forwards extension methods; the admin API has none and answers 400 as llhttp did.
    reject(400, "malformed request: unknown method");
    return HeadAction::Reject;
  }
  request_.method = std::string(head_.str(head_.method_name));
  request_.target = std::string(head_.str(head_.target));
  request_.headers.clear();
  request_.body.clear();
  request_.headers.reserve(head_.headers.size());
  for (const HeaderField& h : head_.headers) request_.headers.emplace_back(lower(head_.name(h)), head_.value(h));

  // The framing llhttp decides on: chunked, or a Content-Length (duplicates and CL with TE are
  // errors in llhttp's strict mode).
  const HeaderField* cl = head_.find(HeaderToken::ContentLength);
  bool chunked = head_.find(HeaderToken::TransferEncoding) != nullptr;
  uint64_t length = 0;
  if (cl != nullptr && !parse_content_length(head_.value(*cl), &length)) {
    reject(400, "malformed request: invalid Content-Length");
    return HeadAction::Reject;
  }
  if (settings_.is_tcp) {
    RequestGuard::Verdict verdict = settings_.guard.check(request_, chunked || length > 0);
    if (verdict.status != 0) {
      reject(verdict.status, std::move(verdict.message));
      return HeadAction::Reject;
    }
  }
  if (length > settings_.max_body) {
    reject(413, fmt::format("request body over {} bytes", settings_.max_body));
    return HeadAction::Reject;
  }
  const std::string* expect = request_.header("expect");
  if (expect != nullptr && lower(*expect) == "100-continue" && head_.version_minor >= 1) {
    stream_.write_static(kContinue, sizeof kContinue - 1);
    stream_.flush();
    if (state_ == State::Closing) return HeadAction::Reject;
  }
  return HeadAction::Continue;
}

void AdminConnection::on_body(const char* at, size_t len) {
  if (reject_status_ != 0) return;  // refused already: the bytes are dropped
  if (request_.body.size() + len > settings_.max_body) {
    // A chunked body outgrew the limit: answered once this feed() returns.
    reject(413, fmt::format("request body over {} bytes", settings_.max_body));
    return;
  }
  request_.body.append(at, len);
}

void AdminConnection::on_message_complete() { keep_alive_ = head_.keep_alive && !head_.upgrade; }

}  // namespace turnout

// libFuzzer target: the admin API's HTTP layer (AdminConnection: llhttp callbacks, head and body
// limits, Expect, pipelining, keep-alive, the takeover hand-off) over a real unix socket. Each
// input is one client connection: an AdminServer starts on a fresh loop, a libuv client writes
// the input, shuts down its write side and reads until the server closes; then the server is
// closed and the loop must close clean.
//
// Input: the raw bytes the client sends.
//
// Invariants checked:
//  - after the client's EOF the server closes the connection (within 5 s of loop time);
//  - what the server wrote is a sequence of complete, well-formed HTTP/1.1 responses with a
//    status the API documents, each JSON body valid JSON;
//  - no handle is leaked: uv_loop_close() succeeds once the server is closed;
//  - ASan/UBSan/LSan find nothing (use after free in the close paths, leaks of requests).
#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_actions.h"
#include "fuzz_check.h"
#include "turnout/admin/admin_server.h"
#include "turnout/common/log.h"
#include "turnout/http/parser.h"

using namespace turnout;
using namespace turnout::fuzz;

namespace {

constexpr size_t kMaxBody = 1024;  // small, so 413 is within reach of fuzzed inputs

const std::string& socket_path() {
  static const std::string path = "/tmp/turnout-fuzz-admin-" + std::to_string(::getpid()) + ".sock";
  return path;
}

// One client connection, driven by libuv callbacks on the same loop as the server.
struct Client {
  uv_pipe_t pipe;
  uv_connect_t connect;
  uv_write_t write;
  uv_shutdown_t shutdown;
  uv_timer_t watchdog;
  AdminServer* server = nullptr;
  std::string input;       // what the client sends
  std::string received;    // what the server answered
  bool done = false;       // the server closed the connection
  bool timed_out = false;  // the watchdog fired first
  int closes = 0;          // handles (pipe, watchdog) closed
};

void finish(Client* c) {
  if (c->done) return;
  c->done = true;
  uv_timer_stop(&c->watchdog);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), [](uv_handle_t* h) { ++static_cast<Client*>(h->data)->closes; });
  uv_close(reinterpret_cast<uv_handle_t*>(&c->watchdog),
           [](uv_handle_t* h) { ++static_cast<Client*>(h->data)->closes; });
  c->server->close();
}

void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Client*>(s->data);
  if (n > 0) c->received.append(buf->base, static_cast<size_t>(n));
  delete[] buf->base;
  if (n < 0) finish(c);  // EOF or reset: the server closed
}

void on_connect(uv_connect_t* req, int status) {
  auto* c = static_cast<Client*>(req->data);
  FUZZ_CHECK(status == 0, "connect to the admin socket: %s", uv_strerror(status));
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->pipe),
      [](uv_handle_t*, size_t size, uv_buf_t* buf) { *buf = uv_buf_init(new char[size], static_cast<unsigned>(size)); },
      on_read);
  uv_buf_t buf = uv_buf_init(c->input.data(), static_cast<unsigned>(c->input.size()));
  c->write.data = c;
  // The server may answer and close before reading everything: a failed write is fine.
  uv_write(&c->write, reinterpret_cast<uv_stream_t*>(&c->pipe), &buf, 1, [](uv_write_t* w, int) {
    auto* cl = static_cast<Client*>(w->data);
    cl->shutdown.data = cl;
    if (!cl->done) uv_shutdown(&cl->shutdown, reinterpret_cast<uv_stream_t*>(&cl->pipe), [](uv_shutdown_t*, int) {});
  });
}

// The answers, parsed the way a client would: responses to GET, each with a length.
class Answers : public HttpParser::Events {
 public:
  HeadAction on_head_complete() override {
    static const int kStatuses[] = {100, 200, 400, 401, 404, 405, 409, 413, 414, 431, 500};
    bool documented = false;
    for (int s : kStatuses) documented |= head.status == s;
    FUZZ_CHECK(documented, "admin answered status %u", head.status);
    json_body = false;
    for (const HeaderField& h : head.headers) {
      if (iequals(head.name(h), "Content-Type") && head.value(h) == "application/json") json_body = true;
    }
    if (head.status != 100) {
      FUZZ_CHECK(head.find(HeaderToken::ContentLength) != nullptr, "admin answer %u without Content-Length",
                 head.status);
    }
    body.clear();
    return HeadAction::Continue;
  }
  void on_body(const char* at, size_t len) override { body.append(at, len); }
  void on_message_complete() override {
    if (head.status == 100) return;
    ++answers;
    if (json_body) {
      auto j = nlohmann::json::parse(body, nullptr, false);
      FUZZ_CHECK(!j.is_discarded(), "admin answer %u is not JSON: %s", head.status, printable(body).c_str());
    }
  }
  ResponseHead head;
  std::string body;
  bool json_body = false;
  int answers = 0;
};

void check_answers(const std::string& received) {
  Answers ev;
  Limits limits{0, 0, 0, 0};
  HttpParser parser(HttpParser::Kind::Response, &ev.head, &ev, limits);
  parser.set_request_method(HTTP_GET);
  size_t off = 0;
  while (off < received.size()) {
    HttpParser::Outcome o = parser.feed(received.data() + off, received.size() - off);
    FUZZ_CHECK(o.status != HttpParser::Status::Error && o.status != HttpParser::Status::Upgrade,
               "admin answers do not parse (%s):\n  %s", parser.error_reason().c_str(), printable(received).c_str());
    off += o.consumed;
    if (o.status == HttpParser::Status::MessageComplete) parser.resume();
  }
  FUZZ_CHECK(!parser.in_message(), "admin connection closed mid-answer:\n  %s", printable(received).c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ::signal(SIGPIPE, SIG_IGN);  // a write to a connection the peer closed is an error, not a kill
  set_log_level(LogLevel::Error);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uv_loop_t loop;
  FUZZ_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
  FakeActions actions;
  actions.allow_takeover = true;
  AdminOptions opts;
  opts.socket_path = socket_path();
  opts.max_body = kMaxBody;
  {
    AdminServer server(&loop, actions, opts);
    Result<void> started = server.start();
    FUZZ_CHECK(started.ok(), "admin server start: %s", started.error().message.c_str());

    Client client;
    client.server = &server;
    client.input.assign(reinterpret_cast<const char*>(data), size);
    uv_pipe_init(&loop, &client.pipe, 0);
    client.pipe.data = &client;
    uv_timer_init(&loop, &client.watchdog);
    client.watchdog.data = &client;
    uv_timer_start(
        &client.watchdog,
        [](uv_timer_t* t) {
          auto* c = static_cast<Client*>(t->data);
          c->timed_out = true;
          finish(c);
        },
        5000, 0);
    client.connect.data = &client;
    uv_pipe_connect(&client.connect, &client.pipe, socket_path().c_str(), on_connect);

    uv_run(&loop, UV_RUN_DEFAULT);
    FUZZ_CHECK(!client.timed_out, "admin connection still open 5 s after the client's EOF; answered:\n  %s",
               printable(client.received).c_str());
    FUZZ_CHECK(client.closes == 2, "client handles not closed");
    FUZZ_CHECK(server.connection_count() == 0, "%zu admin connections left after close()",
               server.connection_count());
    check_answers(client.received);
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // the server's close callbacks
  int rc = uv_loop_close(&loop);
  if (rc != 0) {
    uv_walk(
        &loop,
        [](uv_handle_t* h, void*) {
          std::fprintf(stderr, "leaked handle: %s active=%d closing=%d\n", uv_handle_type_name(h->type),
                       uv_is_active(h), uv_is_closing(h));
        },
        nullptr);
  }
  FUZZ_CHECK(rc == 0, "uv_loop_close: %s (a handle is still open)", uv_strerror(rc));
  return 0;
}

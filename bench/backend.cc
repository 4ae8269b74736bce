// turnout-backend: a tiny, fast HTTP/1.1 app server on libuv + llhttp, for the demo and for
// benchmarks (the same fixed-response backend behind turnout, nginx and HAProxy).
//
//   turnout-backend --listen 127.0.0.1:9001 [--name example] [--size BYTES] [--threads N]
//
// Answers every request with 200 and a body: "<name> <listen>\n" by default, or BYTES bytes.
// Keep-alive, pipelining and request bodies (Content-Length or chunked, discarded) are handled.
#include <llhttp.h>
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>
#include <netinet/in.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

namespace {

std::string g_name = "backend";
std::string g_listen = "127.0.0.1:9001";
std::string g_head_ka, g_head_close, g_body;

struct Conn {
  uv_tcp_t tcp;
  llhttp_t parser;
  std::string out;         // responses queued during one read
  bool close_after = false;
  int writes = 0;          // in flight
  bool closing = false;
};

struct WriteReq {
  uv_write_t req;
  std::string bytes;  // owned until the callback
  Conn* conn;
};

llhttp_settings_t g_settings;

void on_closed(uv_handle_t* h) { delete static_cast<Conn*>(h->data); }

void close_conn(Conn* c) {
  if (c->closing) return;
  c->closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_closed);
}

int on_message_complete(llhttp_t* p) {
  auto* c = static_cast<Conn*>(p->data);
  bool ka = llhttp_should_keep_alive(p);
  c->out += ka ? g_head_ka : g_head_close;
  if (p->method != HTTP_HEAD) c->out += g_body;
  if (!ka) c->close_after = true;
  return 0;
}

void on_write(uv_write_t* req, int status) {
  auto* w = static_cast<WriteReq*>(req->data);
  Conn* c = w->conn;
  --c->writes;
  delete w;
  if ((status < 0 || c->close_after) && c->writes == 0) close_conn(c);
}

void on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  static thread_local char slab[65536];
  buf->base = slab;
  buf->len = sizeof(slab);
}

void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(s->data);
  if (n < 0) {
    close_conn(c);
    return;
  }
  if (n == 0 || c->close_after) return;
  llhttp_errno_t err = llhttp_execute(&c->parser, buf->base, static_cast<size_t>(n));
  if (err != HPE_OK) {
    c->out += "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    c->close_after = true;
  }
  if (c->out.empty()) return;
  uv_buf_t b = uv_buf_init(c->out.data(), static_cast<unsigned>(c->out.size()));
  int done = uv_try_write(s, &b, 1);
  if (done == static_cast<int>(c->out.size())) {
    c->out.clear();
    if (c->close_after && c->writes == 0) close_conn(c);
    return;
  }
  auto* w = new WriteReq;
  w->conn = c;
  w->req.data = w;
  w->bytes = done > 0 ? c->out.substr(static_cast<size_t>(done)) : std::move(c->out);
  c->out.clear();
  uv_buf_t wb = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  ++c->writes;
  uv_write(&w->req, s, &wb, 1, on_write);
}

void on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* c = new Conn;
  uv_tcp_init(server->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    close_conn(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  llhttp_init(&c->parser, HTTP_REQUEST, &g_settings);
  c->parser.data = c;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
}

int open_socket(const sockaddr_in& addr) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 4096) != 0) {
    std::fprintf(stderr, "turnout-backend: cannot listen on %s: %s\n", g_listen.c_str(), strerror(errno));
    std::exit(1);
  }
  return fd;
}

void serve(int fd) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_tcp_t server;
  uv_tcp_init(&loop, &server);
  uv_tcp_open(&server, fd);
  uv_listen(reinterpret_cast<uv_stream_t*>(&server), 4096, on_connection);
  uv_run(&loop, UV_RUN_DEFAULT);
}

}  // namespace

int main(int argc, char** argv) {
  long size = -1;
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "turnout-backend: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--listen") g_listen = next();
    else if (a == "--name") g_name = next();
    else if (a == "--size") size = std::atol(next().c_str());
    else if (a == "--threads") threads = std::atoi(next().c_str());
    else {
      std::fprintf(stderr, "usage: turnout-backend --listen HOST:PORT [--name N] [--size BYTES] [--threads N]\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  g_body = size >= 0 ? std::string(static_cast<size_t>(size), 'x') : g_name + " " + g_listen + "\n";
  std::string common = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Backend: " + g_name +
                       "\r\nContent-Length: " + std::to_string(g_body.size()) + "\r\n";
  g_head_ka = common + "\r\n";
  g_head_close = common + "Connection: close\r\n\r\n";
  llhttp_settings_init(&g_settings);
  g_settings.on_message_complete = on_message_complete;

  auto colon = g_listen.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(g_listen.c_str() + colon + 1)));
  inet_pton(AF_INET, g_listen.substr(0, colon).c_str(), &addr.sin_addr);
  std::vector<std::thread> ts;
  for (int t = 1; t < threads; ++t) {
    int fd = open_socket(addr);
    ts.emplace_back([fd] { serve(fd); });
  }
  std::fprintf(stderr, "turnout-backend %s listening on %s\n", g_name.c_str(), g_listen.c_str());
  serve(open_socket(addr));
  for (auto& t : ts) t.join();
}

// tls_clients: the TLS client of the benchmark's handshake and idle-memory scenarios
// (bench/bench.py, scenarios i, j and k). Only 127.0.0.1 targets are accepted; the server's
// certificate is not verified (the benchmark makes a self-signed one); SNI is --host.
//
//   tls_clients --connect 127.0.0.1:PORT --host HOST --mode new    [--conns 16] [--seconds 10]
//   tls_clients --connect 127.0.0.1:PORT --host HOST --mode resume [--conns 16] [--seconds 10]
//   tls_clients --connect 127.0.0.1:PORT --host HOST --mode idle   [--conns 5000] [--threads 8]
//
// new:    --conns threads, each in a loop: connect, a full TLS 1.3 handshake, one GET with
//         `Connection: close`, read the whole response, close. Prints
//         "handshakes=N resumed=R failed=F seconds=S" at the end.
// resume: the same, each connection offering the session ticket its thread's previous
//         connection received (TLS 1.3 PSK resumption); "resumed" counts the ones the server
//         accepted.
// idle:   opens --conns keep-alive TLS connections (a handshake and one GET each, --threads at a
//         time), then holds them open and idle until stdin closes or SIGTERM. Prints
//         "ready ok=N failed=M ms=T" once all are open and "done closed_by_peer=K" at exit, as
//         idle_clients does for plaintext.
//
// Blocking sockets, one thread per client: simple, and the client's own CPU is not what the
// benchmark measures (it reads the proxy's).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

sockaddr_in g_addr{};
std::string g_request;
SSL_CTX* g_ctx = nullptr;
std::string g_host;

// True once `in` holds a whole response with a Content-Length body (the backends always send one).
bool response_complete(const std::string& in) {
  size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  size_t cl = 0;
  for (size_t pos = 0; pos < end;) {
    size_t eol = in.find("\r\n", pos);
    if (eol == std::string::npos || eol > end) eol = end;
    if (eol - pos > 15 && strncasecmp(in.c_str() + pos, "content-length:", 15) == 0)
      cl = std::strtoul(in.c_str() + pos + 15, nullptr, 10);
    pos = eol + 2;
  }
  return in.size() >= end + 4 + cl;
}

// One TLS client connection: socket and SSL, both owned.
struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  ~Conn() {
    if (ssl) SSL_free(ssl);
    if (fd >= 0) close(fd);
  }
};

// Connects, handshakes (offering `session` if not null), sends one GET and reads its response.
// Returns false on any failure.
bool exchange(Conn& c, SSL_SESSION* session) {
  c.fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c.fd < 0) return false;
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c.fd, reinterpret_cast<sockaddr*>(&g_addr), sizeof g_addr) != 0) return false;
  c.ssl = SSL_new(g_ctx);
  if (!c.ssl) return false;
  SSL_set_fd(c.ssl, c.fd);
  SSL_set_tlsext_host_name(c.ssl, g_host.c_str());
  if (session) SSL_set_session(c.ssl, session);
  if (SSL_connect(c.ssl) != 1) return false;
  if (SSL_write(c.ssl, g_request.data(), static_cast<int>(g_request.size())) <= 0) return false;
  std::string in;
  char buf[16384];
  while (!response_complete(in)) {
    int n = SSL_read(c.ssl, buf, sizeof buf);
    if (n <= 0) return false;
    in.append(buf, static_cast<size_t>(n));
  }
  return in.compare(0, 12, "HTTP/1.1 200") == 0;
}

struct Counts {
  std::atomic<long> handshakes{0}, resumed{0}, failed{0};
};

void loop(bool resume, Clock::time_point end, Counts& counts) {
  SSL_SESSION* session = nullptr;
  while (Clock::now() < end) {
    Conn c;
    bool ok = exchange(c, resume ? session : nullptr);
    if (!ok) {
      counts.failed++;
      ERR_clear_error();
      if (session) SSL_SESSION_free(session);
      session = nullptr;
      continue;
    }
    counts.handshakes++;
    if (SSL_session_reused(c.ssl)) counts.resumed++;
    if (resume) {
      // The ticket(s) the server sent after the handshake arrived with the response.
      SSL_SESSION* s = SSL_get1_session(c.ssl);
      if (s && SSL_SESSION_is_resumable(s)) {
        if (session) SSL_SESSION_free(session);
        session = s;
      } else if (s) {
        SSL_SESSION_free(s);
      }
    }
    SSL_shutdown(c.ssl);  // close_notify, as a browser closing a connection sends
  }
  if (session) SSL_SESSION_free(session);
}

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

int idle(int conns, int threads) {
  std::vector<Conn> all(static_cast<size_t>(conns));
  std::atomic<int> next{0}, ok{0}, failed{0};
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      for (int i; (i = next++) < conns;) {
        Conn& c = all[static_cast<size_t>(i)];
        if (exchange(c, nullptr)) {
          ok++;
        } else {
          failed++;
          ERR_clear_error();
          SSL_free(c.ssl);
          c.ssl = nullptr;
          if (c.fd >= 0) close(c.fd);
          c.fd = -1;
        }
      }
    });
  for (auto& t : ts) t.join();
  long ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  std::printf("ready ok=%d failed=%d ms=%ld\n", ok.load(), failed.load(), ms);
  std::fflush(stdout);
  // Idle until stdin closes (the benchmark closes it) or a signal.
  pollfd p{0, POLLIN, 0};
  char b[64];
  while (!g_stop) {
    int n = poll(&p, 1, 500);
    if (n > 0 && read(0, b, sizeof b) <= 0) break;
  }
  // A connection the peer closed meanwhile reads as EOF (or an error) without blocking.
  int closed = 0;
  for (Conn& c : all) {
    if (c.fd < 0) continue;
    pollfd q{c.fd, POLLIN, 0};
    if (poll(&q, 1, 0) > 0) {
      char x;
      if (recv(c.fd, &x, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) closed++;
    }
  }
  std::printf("done closed_by_peer=%d\n", closed);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string target = "127.0.0.1:8443", mode = "new";
  g_host = "a.test";
  int conns = -1, threads = 8;
  double seconds = 10;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) a = "--help";
    if (a == "--connect") target = argv[++i];
    else if (a == "--host") g_host = argv[++i];
    else if (a == "--mode") mode = argv[++i];
    else if (a == "--conns") conns = std::atoi(argv[++i]);
    else if (a == "--threads") threads = std::atoi(argv[++i]);
    else if (a == "--seconds") seconds = std::atof(argv[++i]);
    else {
      std::fprintf(stderr, "usage: tls_clients --connect 127.0.0.1:PORT --host H --mode new|resume|idle "
                           "[--conns N] [--seconds S] [--threads T]\n");
      return 2;
    }
  }
  size_t colon = target.rfind(':');
  if (colon == std::string::npos || target.substr(0, colon) != "127.0.0.1") {
    std::fprintf(stderr, "tls_clients: only 127.0.0.1:PORT targets are allowed\n");
    return 2;
  }
  if (mode != "new" && mode != "resume" && mode != "idle") {
    std::fprintf(stderr, "tls_clients: --mode is new, resume or idle\n");
    return 2;
  }
  if (conns < 0) conns = mode == "idle" ? 5000 : 16;
  g_addr.sin_family = AF_INET;
  g_addr.sin_port = htons(static_cast<uint16_t>(std::atoi(target.c_str() + colon + 1)));
  inet_pton(AF_INET, "127.0.0.1", &g_addr.sin_addr);
  g_request = "GET / HTTP/1.1\r\nHost: " + g_host + "\r\n" + (mode == "idle" ? "" : "Connection: close\r\n") + "\r\n";
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  // TLS 1.3 only: the scenarios measure TLS 1.3 handshakes. No verification (self-signed).
  g_ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(g_ctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set1_groups_list(g_ctx, "X25519");

  if (mode == "idle") return idle(conns, threads);

  Counts counts;
  auto t0 = Clock::now();
  auto end = t0 + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  std::vector<std::thread> ts;
  for (int t = 0; t < conns; ++t) ts.emplace_back(loop, mode == "resume", end, std::ref(counts));
  for (auto& t : ts) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("handshakes=%ld resumed=%ld failed=%ld seconds=%.3f\n", counts.handshakes.load(), counts.resumed.load(),
              counts.failed.load(), secs);
  SSL_CTX_free(g_ctx);
  return 0;
}

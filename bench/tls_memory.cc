// tls_memory: what one idle TLS connection holds in turnout's TLS layer, counted byte by byte.
// Scenario (k) measures RSS per connection of the whole process; this says where it goes.
//
//   tls_memory --cert CHAIN.pem --key KEY.pem [--conns 200]
//
// Builds turnout's ServerTlsContext and, per connection, a TlsEngine (the SSL and BIO a
// TlsTransport drives), runs a TLS 1.3 handshake in memory against an OpenSSL client, then one
// request and one response, and counts the bytes OpenSSL still has allocated for the engine
// (every OpenSSL allocation goes through counting functions, CRYPTO_set_mem_functions) while the
// connection idles. Prints the bytes per connection, then the same with OpenSSL's record buffers
// kept (no SSL_MODE_RELEASE_BUFFERS) for comparison, and the largest allocations still held by
// the last connection by OpenSSL source line, and what the engine itself holds: a TLS 1.3
// connection frees its SSL once the handshake is done and keeps only its record keys
// (TlsEngine, hand-over), so OpenSSL should hold next to nothing for it. No sockets.
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "turnout/tls/certificate.h"
#include "turnout/tls/certificate_set.h"
#include "turnout/tls/server_tls_context.h"
#include "turnout/tls/tls_engine.h"

namespace {

// Counting allocator: a 16-byte header holds each block's size. `g_counting` is on only while
// the server side works, so the client's allocations are not counted.
long g_live = 0;
bool g_counting = false;
std::map<void*, std::string>* g_where = nullptr;  // block -> "file:line", for the last connection

void* count_malloc(size_t n, const char* file, int line) {
  auto* p = static_cast<size_t*>(std::malloc(n + 16));
  if (!p) return nullptr;
  p[0] = n;
  p[1] = g_counting ? 1 : 0;
  if (g_counting) {
    g_live += static_cast<long>(n);
    if (g_where) (*g_where)[p + 2] = std::string(file ? file : "?") + ":" + std::to_string(line) + " " + std::to_string(n);
  }
  return p + 2;
}
void count_free(void* q, const char*, int) {
  if (!q) return;
  size_t* p = static_cast<size_t*>(q) - 2;
  if (p[1]) g_live -= static_cast<long>(p[0]);
  if (g_where) g_where->erase(q);
  std::free(p);
}
void* count_realloc(void* q, size_t n, const char* file, int line) {
  if (!q) return count_malloc(n, file, line);
  void* fresh = count_malloc(n, file, line);
  if (!fresh) return nullptr;
  size_t old = (static_cast<size_t*>(q) - 2)[0];
  std::memcpy(fresh, q, old < n ? old : n);
  count_free(q, file, line);
  return fresh;
}

std::string slurp(const char* path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Moves the client's output into the engine and the engine's output to the client.
void pump(SSL* client, turnout::TlsEngine& server) {
  BIO* to_server = SSL_get_wbio(client);
  BIO* from_server = SSL_get_rbio(client);
  char buf[16384];
  int n;
  while ((n = BIO_read(to_server, buf, sizeof buf)) > 0) {
    g_counting = true;
    server.feed(buf, static_cast<size_t>(n));
    g_counting = false;
  }
  g_counting = true;
  std::string out = server.take_output();
  g_counting = false;
  if (!out.empty()) BIO_write(from_server, out.data(), static_cast<int>(out.size()));
}

// Per-connection bytes OpenSSL holds for `conns` idle server engines.
int g_handed_over = 0;  // connections of the last measure() that freed their SSL

long measure(const turnout::ServerTlsContext& ctx, const turnout::CertificateSetPtr& certs, SSL_CTX* cctx, int conns,
             bool keep_buffers, bool record_last) {
  g_handed_over = 0;
  std::vector<std::unique_ptr<turnout::TlsHandshakeState>> states;
  std::vector<std::unique_ptr<turnout::TlsEngine>> engines;
  long total = 0;
  for (int i = 0; i < conns; ++i) {
    if (record_last && i == conns - 1) g_where = new std::map<void*, std::string>();
    long before = g_live;
    g_counting = true;
    states.push_back(std::make_unique<turnout::TlsHandshakeState>(turnout::TlsHandshakeState{certs, nullptr, {}}));
    SSL* s = ctx.new_ssl(states.back().get());
    if (keep_buffers) SSL_clear_mode(s, SSL_MODE_RELEASE_BUFFERS);
    engines.push_back(std::make_unique<turnout::TlsEngine>(s));
    g_counting = false;
    turnout::TlsEngine& e = *engines.back();
    SSL* c = SSL_new(cctx);
    SSL_set_bio(c, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    SSL_set_tlsext_host_name(c, "a.test");
    SSL_set_connect_state(c);
    for (int k = 0; k < 10 && !(SSL_is_init_finished(c) && e.handshake_done()); ++k) {
      SSL_do_handshake(c);
      pump(c, e);
    }
    const char req[] = "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
    SSL_write(c, req, sizeof req - 1);
    pump(c, e);
    char buf[4096];
    g_counting = true;
    while (e.read(buf, sizeof buf) > 0) {
    }
    const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    e.write(resp, sizeof resp - 1);
    g_counting = false;
    pump(c, e);
    SSL_read(c, buf, sizeof buf);  // the client reads the response and the ticket
    if (!e.handshake_done() || e.state() != turnout::TlsEngine::State::Open) {
      std::fprintf(stderr, "tls_memory: handshake %d failed: %s\n", i, e.error().c_str());
      std::exit(1);
    }
    total += g_live - before;
    if (e.handed_over()) ++g_handed_over;
    SSL_free(c);
    ERR_clear_error();
  }
  if (record_last) {
    std::map<std::string, long> by;
    for (auto& [p, where] : *g_where) by[where.substr(0, where.rfind(' '))] += std::atol(where.c_str() + where.rfind(' ') + 1);
    std::vector<std::pair<long, std::string>> rows;
    for (auto& [w, n] : by) rows.emplace_back(n, w);
    std::sort(rows.rbegin(), rows.rend());
    std::printf("held by the last idle connection, by OpenSSL source line (bytes):\n");
    for (size_t i = 0; i < rows.size() && i < 16; ++i) std::printf("  %6ld  %s\n", rows[i].first, rows[i].second.c_str());
    delete g_where;
    g_where = nullptr;
  }
  g_counting = true;
  engines.clear();
  g_counting = false;
  return total / conns;
}

}  // namespace

int main(int argc, char** argv) {
  CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free);  // before any allocation
  const char *cert = nullptr, *key = nullptr;
  int conns = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--cert")) cert = argv[i + 1];
    else if (!std::strcmp(argv[i], "--key")) key = argv[i + 1];
    else if (!std::strcmp(argv[i], "--conns")) conns = std::atoi(argv[i + 1]);
  }
  if (!cert || !key || conns < 1) {
    std::fprintf(stderr, "usage: tls_memory --cert CHAIN.pem --key KEY.pem [--conns N]\n");
    return 2;
  }
  auto c = turnout::Certificate::from_pem("bench", slurp(cert), slurp(key));
  if (!c.ok()) {
    std::fprintf(stderr, "tls_memory: %s\n", c.error().message.c_str());
    return 1;
  }
  auto set = turnout::CertificateSet::build({{"bench", *c}}, "bench");
  auto ctx = turnout::ServerTlsContext::create({});
  if (!set.ok() || !ctx.ok()) return 1;
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
  SSL_CTX_set1_groups_list(cctx, "X25519");
  long idle = measure(**ctx, *set, cctx, conns, false, true);
  int handed_over = g_handed_over;
  // For comparison, a context without the keylog callback: its connections keep their SSL.
  auto kept_ctx = turnout::ServerTlsContext::create({});
  if (!kept_ctx.ok()) return 1;
  SSL_CTX_set_keylog_callback((*kept_ctx)->ctx(), nullptr);
  long with_ssl = measure(**kept_ctx, *set, cctx, conns, false, false);
  long kept = measure(**kept_ctx, *set, cctx, conns, true, false);
  std::printf("bytes OpenSSL holds per idle TLS 1.3 connection: %ld (%.2f KiB)\n", idle, idle / 1024.0);
  std::printf("connections that freed their SSL after the handshake: %d of %d; the engine then holds %zu bytes "
              "(TlsEngine %zu + Tls13RecordLayer %zu)\n",
              handed_over, conns, sizeof(turnout::TlsEngine) + sizeof(turnout::Tls13RecordLayer),
              sizeof(turnout::TlsEngine), sizeof(turnout::Tls13RecordLayer));
  std::printf("the same with the SSL kept after the handshake (record buffers released): %ld (%.2f KiB)\n", with_ssl,
              with_ssl / 1024.0);
  std::printf("the same with the SSL and its record buffers kept (no SSL_MODE_RELEASE_BUFFERS): %ld (%.2f KiB)\n", kept,
              kept / 1024.0);
  SSL_CTX_free(cctx);
  return 0;
}

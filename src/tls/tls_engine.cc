#include "turnout/tls/tls_engine.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>

#include "openssl_util.h"

namespace turnout {

// The engine's BIO: reads serve the current feed() in place; writes append to the output.
struct TlsEngineBio {
  static TlsEngine* of(BIO* b) { return static_cast<TlsEngine*>(BIO_get_data(b)); }

  static int write(BIO* b, const char* data, size_t len, size_t* written) {
    BIO_clear_retry_flags(b);
    of(b)->out_.append(data, len);
    *written = len;
    return 1;
  }
  static int read(BIO* b, char* buf, size_t cap, size_t* got) {
    BIO_clear_retry_flags(b);
    TlsEngine* e = of(b);
    if (e->in_len_ == 0) {
      BIO_set_retry_read(b);  // no more for now: OpenSSL keeps a partial record and waits
      *got = 0;
      return 0;
    }
    size_t n = cap < e->in_len_ ? cap : e->in_len_;
    std::memcpy(buf, e->in_, n);
    e->in_ += n;
    e->in_len_ -= n;
    *got = n;
    return 1;
  }
  static long ctrl(BIO*, int cmd, long, void*) {
    switch (cmd) {
      case BIO_CTRL_FLUSH: return 1;    // output is taken by take_output()
      case BIO_CTRL_PUSH:
      case BIO_CTRL_POP: return 0;
      default: return 0;
    }
  }
  static int create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  }

  static BIO_METHOD* method() {
    static BIO_METHOD* m = [] {
      BIO_METHOD* x = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "turnout-tls");
      BIO_meth_set_write_ex(x, write);
      BIO_meth_set_read_ex(x, read);
      BIO_meth_set_ctrl(x, ctrl);
      BIO_meth_set_create(x, create);
      return x;
    }();
    return m;
  }
};


TlsEngine::TlsEngine(SSL* ssl, Role role) : ssl_(ssl), client_(role == Role::Client) {
  bio_ = BIO_new(TlsEngineBio::method());
  if (bio_ == nullptr || ssl_ == nullptr) {
    state_ = State::Failed;
    error_ = "out of memory";
    return;
  }
  BIO_set_data(bio_, this);
  SSL_set_bio(ssl_, bio_, bio_);  // one BIO both ways; freed with the SSL
  if (client_)
    SSL_set_connect_state(ssl_);
  else
    SSL_set_accept_state(ssl_);
}

TlsEngine::~TlsEngine() {
  if (ssl_ != nullptr) {
    // A connection that ends without a failure keeps its session resumable (OpenSSL drops a
    // session from the cache when its SSL is freed without a shutdown).
    if (state_ != State::Failed) SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl_);
  } else if (bio_ != nullptr) {
    BIO_free(bio_);
  }
}

bool TlsEngine::fail_from(int rc) {
  int e = SSL_get_error(ssl_, rc);
  switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: return true;
    case SSL_ERROR_ZERO_RETURN:
      state_ = State::Closed;
      return true;
    default:
      state_ = State::Failed;
      error_ = e == SSL_ERROR_SSL ? tls_detail::openssl_error("TLS protocol error") : "TLS error " + std::to_string(e);
      // A client that refused the server's certificate: say why in the verifier's words.
      if (long v = SSL_get_verify_result(ssl_); client_ && v != X509_V_OK)
        error_ = std::string("certificate verify failed: ") + X509_verify_cert_error_string(v);
      ERR_clear_error();
      return false;
  }
}

void TlsEngine::advance() {
  if (state_ != State::Handshaking) return;
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    state_ = State::Open;
    return;
  }
  fail_from(rc);
}

bool TlsEngine::feed(const char* data, size_t len) {
  if (state_ == State::Failed) return false;
  in_ = data;
  in_len_ = len;
  advance();
  return state_ != State::Failed;
}

size_t TlsEngine::read(char* buf, size_t cap) {
  if (state_ == State::Handshaking) advance();
  if (state_ != State::Open || cap == 0) {
    in_ = nullptr;
    in_len_ = 0;
    return 0;
  }
  size_t got = 0;
  int rc = SSL_read_ex(ssl_, buf, cap, &got);
  if (rc == 1) return got;
  fail_from(rc);
  // OpenSSL consumed what it could; anything it did not read is part of a record it holds.
  if (in_len_ == 0) in_ = nullptr;
  return 0;
}

bool TlsEngine::write(const char* data, size_t len) {
  if (state_ != State::Open) return state_ != State::Failed;
  while (len > 0) {
    size_t done = 0;
    int rc = SSL_write_ex(ssl_, data, len, &done);
    if (rc != 1) return fail_from(rc) && state_ == State::Open;
    data += done;
    len -= done;
  }
  return true;
}

void TlsEngine::shutdown() {
  if (shutdown_sent_ || state_ == State::Failed || state_ == State::Handshaking) return;
  shutdown_sent_ = true;
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

std::string TlsEngine::take_output() {
  std::string out;
  out.swap(out_);
  return out;
}

std::string TlsEngine::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(ssl_, &p, &n);
  return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
}

const char* TlsEngine::version() const { return SSL_get_version(ssl_); }

bool TlsEngine::has_plaintext() const { return state_ == State::Open && SSL_pending(ssl_) > 0; }

bool TlsEngine::resumed() const { return SSL_session_reused(ssl_) == 1; }

}  // namespace turnout

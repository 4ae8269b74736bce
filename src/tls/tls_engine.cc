#include "turnout/tls/tls_engine.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>

#include "openssl_util.h"
#include "turnout/common/hex.h"

namespace turnout {

namespace {

// The engine of a server SSL, for the keylog callback (which gets only the SSL).
int engine_index() {
  static int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

constexpr size_t kNone = static_cast<size_t>(-1);

// Alert descriptions the own record layer sends (RFC 8446 6).
constexpr uint8_t kCloseNotify = 0, kUnexpectedMessage = 10, kBadRecordMac = 20, kRecordOverflow = 22,
                  kIllegalParameter = 47, kDecodeError = 50;

// The secret of a keylog line "LABEL <client random> <secret>" into `out`: its length, 0 if
// malformed or longer than `cap`.
size_t secret_of(const char* line, unsigned char* out, size_t cap) {
  const char* p = std::strrchr(line, ' ');
  if (p == nullptr) return 0;
  ++p;
  size_t n = 0;
  while (p[0] != '\0' && p[1] != '\0') {
    int hi = hex_value(p[0]), lo = hex_value(p[1]);
    if (hi < 0 || lo < 0 || n == cap) return 0;
    out[n++] = static_cast<unsigned char>(hi << 4 | lo);
    p += 2;
  }
  return p[0] == '\0' ? n : 0;
}

}  // namespace

// What a TLS 1.3 server handshake yields for the hand-over: the application traffic secrets
// (from the keylog callback) and the records OpenSSL sealed under the server's since its secret
// was derived (the tickets), whose count is the first write sequence number of the own layer.
// The bytes are counted as the BIO writes them; OpenSSL writes whole records.
struct TlsEngine::Handover {
  unsigned char client_secret[48];
  unsigned char server_secret[48];
  size_t client_len = 0;
  size_t server_len = 0;
  bool counting = false;       // the server secret is known: records written from here are under it
  uint64_t records = 0;        // complete records written since
  unsigned char header[5];
  uint8_t header_got = 0;
  size_t body_left = 0;
  size_t record_start = kNone;  // offset in out_ of the record being written
  size_t last_start = kNone;    // offset in out_ of the last complete record, while out_ holds it
  size_t last_len = 0;

  ~Handover() {
    OPENSSL_cleanse(client_secret, sizeof client_secret);
    OPENSSL_cleanse(server_secret, sizeof server_secret);
  }

  // `data` was appended to the output at offset `at`.
  void count(const char* data, size_t len, size_t at) {
    for (size_t i = 0; i < len;) {
      if (header_got < 5) {
        if (header_got == 0) record_start = at + i;
        header[header_got++] = static_cast<unsigned char>(data[i++]);
        if (header_got == 5) body_left = static_cast<size_t>(header[3]) << 8 | header[4];
      } else {
        size_t n = len - i < body_left ? len - i : body_left;
        body_left -= n;
        i += n;
      }
      if (header_got == 5 && body_left == 0) {
        ++records;
        last_start = record_start;
        last_len = 5 + (static_cast<size_t>(header[3]) << 8 | header[4]);
        header_got = 0;
      }
    }
  }
  bool at_boundary() const { return header_got == 0; }
};

// The engine's BIO: reads serve the current feed() in place; writes append to the output.
struct TlsEngineBio {
  static TlsEngine* of(BIO* b) { return static_cast<TlsEngine*>(BIO_get_data(b)); }

  static int write(BIO* b, const char* data, size_t len, size_t* written) {
    BIO_clear_retry_flags(b);
    TlsEngine* e = of(b);
    if (e->handover_ != nullptr && e->handover_->counting) e->handover_->count(data, len, e->out_.size());
    e->out_.append(data, len);
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
  if (client_) {
    SSL_set_connect_state(ssl_);
  } else {
    SSL_set_accept_state(ssl_);
    SSL_set_ex_data(ssl_, engine_index(), this);
  }
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
    if (handover_ != nullptr) hand_over();
    return;
  }
  fail_from(rc);
}

void TlsEngine::on_keylog(const SSL* ssl, const char* line) {
  auto* e = static_cast<TlsEngine*>(SSL_get_ex_data(ssl, engine_index()));
  if (e == nullptr || e->state_ != State::Handshaking) return;
  bool client = std::strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0;
  bool server = std::strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0;
  if (!client && !server) return;
  if (e->handover_ == nullptr) e->handover_ = std::make_unique<Handover>();
  Handover& h = *e->handover_;
  if (client) {
    h.client_len = secret_of(line, h.client_secret, sizeof h.client_secret);
  } else {
    h.server_len = secret_of(line, h.server_secret, sizeof h.server_secret);
    // OpenSSL derives the server's application secret once its Finished is written: every
    // record written from now on is sealed under it.
    h.counting = true;
    h.records = 0;
  }
}

void TlsEngine::hand_over() {
  std::unique_ptr<Handover> h = std::move(handover_);
  if (h->client_len == 0 || h->server_len == 0 || !h->counting || !h->at_boundary()) return;
  if (SSL_version(ssl_) != TLS1_3_VERSION || SSL_pending(ssl_) > 0 || SSL_has_pending(ssl_)) return;
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_);
  if (cipher == nullptr) return;
  auto suite = static_cast<uint16_t>(SSL_CIPHER_get_protocol_id(cipher));
  // The client's Finished was the last record OpenSSL read: its next record is its first under
  // the application secret. The server's next is the one after the tickets just written.
  auto records = Tls13RecordLayer::create(
      suite, std::string_view(reinterpret_cast<const char*>(h->client_secret), h->client_len),
      std::string_view(reinterpret_cast<const char*>(h->server_secret), h->server_len), 0, h->records);
  if (records == nullptr) return;
  // Check the count against OpenSSL's own last record: it must open with our keys at the
  // sequence number before ours. Without such a record (no tickets) there is nothing after the
  // Finished the count could have missed.
  if (h->records > 0) {
    if (h->last_start == kNone) return;
    const auto* rec = reinterpret_cast<const unsigned char*>(out_.data() + h->last_start);
    if (!records->opens_as_written(rec, h->last_len, h->records - 1)) return;
  }
  alpn_ = alpn();
  version_ = SSL_get_version(ssl_);
  resumed_ = SSL_session_reused(ssl_) == 1;
  SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);  // keep its session resumable
  SSL_free(ssl_);  // frees bio_ too
  ssl_ = nullptr;
  bio_ = nullptr;
  records_ = std::move(records);
}

bool TlsEngine::feed(const char* data, size_t len) {
  if (state_ == State::Failed) return false;
  in_ = data;
  in_len_ = len;
  if (records_ == nullptr) advance();  // the own layer reads records in read()
  return state_ != State::Failed;
}

size_t TlsEngine::read(char* buf, size_t cap) {
  if (records_ != nullptr) return cap > 0 ? own_read(buf, cap) : 0;
  if (state_ == State::Handshaking) advance();
  if (records_ != nullptr) return cap > 0 ? own_read(buf, cap) : 0;
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
  if (records_ != nullptr) {
    if (len > 0 && !records_->seal(Tls13RecordLayer::kApplicationData, data, len, out_)) {
      state_ = State::Failed;
      error_ = "TLS record sequence exhausted";
    }
    return state_ == State::Open;
  }
  while (len > 0) {
    size_t done = 0;
    int rc = SSL_write_ex(ssl_, data, len, &done);
    if (rc != 1) return fail_from(rc) && state_ == State::Open;
    data += done;
    len -= done;
  }
  return true;
}

bool TlsEngine::write(const std::string_view* parts, size_t count) {
  if (state_ != State::Open) return state_ != State::Failed;
  if (records_ != nullptr) {
    if (!records_->seal(Tls13RecordLayer::kApplicationData, parts, count, out_)) {
      state_ = State::Failed;
      error_ = "TLS record sequence exhausted";
    }
    return state_ == State::Open;
  }
  // OpenSSL makes a record of every SSL_write: parts are gathered into full records first;
  // whole records' worth of one part go without the copy.
  constexpr size_t kRecord = Tls13RecordLayer::kMaxPlaintext;
  thread_local std::string gather;
  gather.clear();
  for (size_t i = 0; i < count; ++i) {
    const char* d = parts[i].data();
    size_t n = parts[i].size();
    while (n > 0) {
      if (gather.empty() && n >= kRecord) {
        size_t whole = n - n % kRecord;
        if (!write(d, whole)) return false;
        d += whole;
        n -= whole;
        continue;
      }
      size_t take = std::min(n, kRecord - gather.size());
      gather.append(d, take);
      d += take;
      n -= take;
      if (gather.size() == kRecord) {
        if (!write(gather.data(), gather.size())) return false;
        gather.clear();
      }
    }
  }
  return gather.empty() || write(gather.data(), gather.size());
}

void TlsEngine::shutdown() {
  if (shutdown_sent_ || state_ == State::Failed || state_ == State::Handshaking) return;
  shutdown_sent_ = true;
  if (records_ != nullptr) {
    const char alert[2] = {1, static_cast<char>(kCloseNotify)};  // warning, close_notify
    records_->seal(Tls13RecordLayer::kAlert, alert, 2, out_);
    return;
  }
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

std::string TlsEngine::take_output() {
  if (handover_ != nullptr) handover_->last_start = kNone;  // the bytes leave with the output
  std::string out;
  out.swap(out_);
  return out;
}

std::string TlsEngine::alpn() const {
  if (ssl_ == nullptr) return alpn_;
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(ssl_, &p, &n);
  return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
}

const char* TlsEngine::version() const { return ssl_ != nullptr ? SSL_get_version(ssl_) : version_; }

bool TlsEngine::has_plaintext() const {
  if (records_ != nullptr) return held_off_ < held_.size();
  return state_ == State::Open && SSL_pending(ssl_) > 0;
}

bool TlsEngine::resumed() const { return ssl_ != nullptr ? SSL_session_reused(ssl_) == 1 : resumed_; }

// --- the own record layer, after the hand-over ---

void TlsEngine::own_fail(uint8_t alert, const char* why) {
  if (!shutdown_sent_ && state_ == State::Open) {
    shutdown_sent_ = true;
    const char a[2] = {2, static_cast<char>(alert)};  // fatal
    records_->seal(Tls13RecordLayer::kAlert, a, 2, out_);
  }
  state_ = State::Failed;
  error_ = why;
}

size_t TlsEngine::own_read(char* buf, size_t cap) {
  if (held_off_ < held_.size() && state_ != State::Failed) {  // the rest of a record read() could not take
    size_t n = std::min(cap, held_.size() - held_off_);
    std::memcpy(buf, held_.data() + held_off_, n);
    held_off_ += n;
    if (held_off_ == held_.size()) {
      std::string().swap(held_);
      held_off_ = 0;
    }
    return n;
  }
  constexpr size_t H = Tls13RecordLayer::kHeader;
  while (state_ == State::Open) {
    // One whole record: in place from the input, or gathered in partial_ across feeds.
    const unsigned char* rec = nullptr;
    size_t rec_len = 0;
    const unsigned char* header = nullptr;
    if (partial_.empty() && in_len_ >= H) {
      header = reinterpret_cast<const unsigned char*>(in_);
    } else {
      if (partial_.size() < H) {
        size_t n = std::min(H - partial_.size(), in_len_);
        partial_.append(in_, n);
        in_ += n;
        in_len_ -= n;
        if (partial_.size() < H) break;
      }
      header = reinterpret_cast<const unsigned char*>(partial_.data());
    }
    size_t length = static_cast<size_t>(header[3]) << 8 | header[4];
    if (header[0] != Tls13RecordLayer::kApplicationData) {
      own_fail(kUnexpectedMessage, "TLS record of an unexpected type after the handshake");
      break;
    }
    if (length > Tls13RecordLayer::kMaxCiphertext) {
      own_fail(kRecordOverflow, "TLS record too long");
      break;
    }
    if (partial_.empty()) {
      if (in_len_ < H + length) {  // the rest comes later: keep what is here
        partial_.reserve(H + length);
        partial_.assign(in_, in_len_);
        in_ += in_len_;
        in_len_ = 0;
        break;
      }
      rec = reinterpret_cast<const unsigned char*>(in_);
      rec_len = H + length;
      in_ += rec_len;
      in_len_ -= rec_len;
    } else {
      if (partial_.capacity() < H + length) partial_.reserve(H + length);
      size_t n = std::min(H + length - partial_.size(), in_len_);
      partial_.append(in_, n);
      in_ += n;
      in_len_ -= n;
      if (partial_.size() < H + length) break;
      rec = reinterpret_cast<const unsigned char*>(partial_.data());
      rec_len = partial_.size();
    }
    size_t got = 0;
    bool ok = own_record(rec, rec_len, buf, cap, got);
    if (!partial_.empty()) std::string().swap(partial_);  // the record is read: no buffer while idle
    if (!ok) break;
    if (got > 0) return got;
  }
  if (in_len_ == 0) in_ = nullptr;
  if (state_ == State::Failed) {
    in_ = nullptr;
    in_len_ = 0;
  }
  return 0;
}

bool TlsEngine::own_record(const unsigned char* rec, size_t len, char* buf, size_t cap, size_t& got) {
  size_t room = len - Tls13RecordLayer::kHeader - (len >= Tls13RecordLayer::kHeader + Tls13RecordLayer::kTag
                                                       ? Tls13RecordLayer::kTag
                                                       : 0);
  char* dst = buf;
  if (cap < room) {  // a small read buffer: open into held_, hand out what fits
    held_.resize(room);
    dst = held_.data();
  }
  uint8_t type = 0;
  size_t n = 0;
  switch (records_->open(rec, len, dst, type, n)) {
    case Tls13RecordLayer::Open::Ok: break;
    case Tls13RecordLayer::Open::BadMac: own_fail(kBadRecordMac, "TLS record failed authentication"); return false;
    case Tls13RecordLayer::Open::Overflow: own_fail(kRecordOverflow, "TLS record too long"); return false;
    case Tls13RecordLayer::Open::Unexpected: own_fail(kUnexpectedMessage, "TLS record without a type"); return false;
  }
  if (type == Tls13RecordLayer::kApplicationData) {
    if (dst != buf) {
      held_.resize(n);
      size_t k = std::min(cap, n);
      std::memcpy(buf, held_.data(), k);
      held_off_ = k;
      if (held_off_ == held_.size()) {
        std::string().swap(held_);
        held_off_ = 0;
      }
      n = k;
    }
    got = n;
    return true;
  }
  if (dst != buf) {  // alerts and handshake messages are read from held_; it is not plaintext to hand out
    held_.resize(n);
  }
  bool ok = true;
  if (type == Tls13RecordLayer::kAlert) {
    if (n != 2) {
      own_fail(kDecodeError, "malformed TLS alert");
      ok = false;
    } else if (static_cast<uint8_t>(dst[1]) == kCloseNotify) {
      state_ = State::Closed;  // the clean end of the peer's data; anything after it is ignored
      in_ = nullptr;
      in_len_ = 0;
    } else {
      state_ = State::Failed;
      error_ = "TLS alert " + std::to_string(static_cast<uint8_t>(dst[1])) + " received";
      ok = false;
    }
  } else if (type == Tls13RecordLayer::kHandshake && n > 0) {
    ok = own_handshake(dst, n, true);
  } else {
    own_fail(kUnexpectedMessage, "unexpected TLS record after the handshake");
    ok = false;
  }
  if (dst != buf) {
    std::string().swap(held_);
    held_off_ = 0;
  }
  got = 0;
  return ok;
}

// Post-handshake messages from a client: only KeyUpdate (4.6.3) is allowed; it may be split over
// records but must end its record (the next record is under the next key).
bool TlsEngine::own_handshake(const char* p, size_t n, bool record_ends) {
  while (n > 0) {
    size_t want = hs_len_ < 4 ? 4 : 5;
    size_t k = std::min(want - hs_len_, n);
    std::memcpy(hs_ + hs_len_, p, k);
    hs_len_ = static_cast<uint8_t>(hs_len_ + k);
    p += k;
    n -= k;
    if (hs_len_ == 4) {
      if (hs_[0] != 24) {
        own_fail(kUnexpectedMessage, "unexpected TLS handshake message after the handshake");
        return false;
      }
      if (hs_[1] != 0 || hs_[2] != 0 || hs_[3] != 1) {
        own_fail(kDecodeError, "malformed TLS KeyUpdate");
        return false;
      }
    }
    if (hs_len_ < 5) continue;
    uint8_t request = hs_[4];
    hs_len_ = 0;
    if (request > 1) {
      own_fail(kIllegalParameter, "malformed TLS KeyUpdate");
      return false;
    }
    if (n > 0 || !record_ends) {
      own_fail(kUnexpectedMessage, "TLS KeyUpdate not at the end of its record");
      return false;
    }
    if (!records_->update_read_key()) {
      own_fail(kDecodeError, "TLS key update failed");
      return false;
    }
    if (request == 1 && !shutdown_sent_) {  // update_requested: answer under the old key, then switch
      const char msg[5] = {24, 0, 0, 1, 0};
      if (!records_->seal(Tls13RecordLayer::kHandshake, msg, sizeof msg, out_) || !records_->update_write_key()) {
        own_fail(kDecodeError, "TLS key update failed");
        return false;
      }
    }
  }
  return true;
}

}  // namespace turnout

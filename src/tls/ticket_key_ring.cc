#include "turnout/tls/ticket_key_ring.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <charconv>
#include <cstring>

namespace turnout {
namespace {

int ring_index() {
  static int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

Result<TicketKey> fresh_key(int64_t now_unix_ms) {
  TicketKey k;
  if (RAND_bytes(k.name.data(), static_cast<int>(k.name.size())) != 1 ||
      RAND_priv_bytes(k.aes.data(), static_cast<int>(k.aes.size())) != 1 ||
      RAND_priv_bytes(k.hmac.data(), static_cast<int>(k.hmac.size())) != 1) {
    ERR_clear_error();
    OPENSSL_cleanse(&k, sizeof k);
    return make_error(ErrorKind::Internal, "TLS ticket keys: the random generator failed");
  }
  k.created_unix_ms = now_unix_ms;
  return k;
}

constexpr char kHex[] = "0123456789abcdef";

void put_hex(std::string& out, const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool get_hex(std::string_view& in, unsigned char* p, size_t n) {
  if (in.size() < 2 * n) return false;
  for (size_t i = 0; i < n; ++i) {
    int hi = hex_digit(in[2 * i]), lo = hex_digit(in[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    p[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  in.remove_prefix(2 * n);
  return true;
}

// OpenSSL's ticket callback, on a worker during a handshake. Sealing: the newest key and a
// random IV. Opening: the key the ticket names; 2 asks OpenSSL to send a fresh ticket under the
// newest key, 0 (unknown key) means a full handshake. Nothing here fails a handshake: a ticket
// that cannot be sealed is simply not issued.
int on_ticket_key(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* hctx,
                  int enc) {
  const auto* ring = static_cast<const TicketKeyRing*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ring_index()));
  if (!ring) return 0;
  TicketKey k;
  int rc;
  if (enc) {
    k = ring->current();
    if (RAND_bytes(iv, 16) != 1) {
      ERR_clear_error();
      OPENSSL_cleanse(&k, sizeof k);
      return 0;
    }
    std::memcpy(key_name, k.name.data(), k.name.size());
    rc = EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k.aes.data(), iv) == 1 ? 1 : 0;
  } else {
    TicketKeyRing::Match m = ring->find(key_name, &k);
    if (m == TicketKeyRing::Match::Unknown) return 0;
    rc = EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k.aes.data(), iv) == 1
             ? (m == TicketKeyRing::Match::Current ? 1 : 2)
             : 0;
  }
  if (rc != 0) {
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac.data(), k.hmac.size()),
                           OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(hctx, params) != 1) rc = 0;
  }
  if (rc == 0) ERR_clear_error();
  OPENSSL_cleanse(&k, sizeof k);
  return rc;
}

}  // namespace

Result<TicketKeyRingPtr> TicketKeyRing::create(int64_t now_unix_ms) {
  auto k = fresh_key(now_unix_ms);
  if (!k) return k.error();
  TicketKeyRingPtr ring(new TicketKeyRing());
  ring->keys_[0] = *k;
  ring->count_ = 1;
  OPENSSL_cleanse(&*k, sizeof(TicketKey));
  return ring;
}

// Format: keys newest first, separated by ','; each "<created_unix_ms>:<hex name|aes|hmac>".
std::string TicketKeyRing::encode() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (size_t i = 0; i < count_; ++i) {
    const TicketKey& k = keys_[i];
    if (i) out += ',';
    out += std::to_string(k.created_unix_ms);
    out += ':';
    put_hex(out, k.name.data(), k.name.size());
    put_hex(out, k.aes.data(), k.aes.size());
    put_hex(out, k.hmac.data(), k.hmac.size());
  }
  return out;
}

Result<TicketKeyRingPtr> TicketKeyRing::decode(std::string_view text) {
  TicketKeyRingPtr ring(new TicketKeyRing());
  while (!text.empty() && ring->count_ < kKeep) {
    TicketKey& k = ring->keys_[ring->count_];
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), k.created_unix_ms);
    text.remove_prefix(static_cast<size_t>(p - text.data()));
    if (ec != std::errc() || text.empty() || text[0] != ':')
      return make_error(ErrorKind::Invalid, "TLS ticket keys: malformed");
    text.remove_prefix(1);
    if (!get_hex(text, k.name.data(), k.name.size()) || !get_hex(text, k.aes.data(), k.aes.size()) ||
        !get_hex(text, k.hmac.data(), k.hmac.size()))
      return make_error(ErrorKind::Invalid, "TLS ticket keys: malformed");
    ++ring->count_;
    if (!text.empty()) {
      if (text[0] != ',') return make_error(ErrorKind::Invalid, "TLS ticket keys: malformed");
      text.remove_prefix(1);
    }
  }
  if (ring->count_ == 0) return make_error(ErrorKind::Invalid, "TLS ticket keys: none");
  return ring;
}

TicketKeyRing::~TicketKeyRing() { OPENSSL_cleanse(keys_.data(), sizeof keys_); }

Result<void> TicketKeyRing::rotate(int64_t now_unix_ms) {
  auto k = fresh_key(now_unix_ms);
  if (!k) return k.error();
  std::lock_guard lock(mu_);
  // Shift down; the oldest falls off the end and is overwritten (wiped) by its successor.
  size_t n = count_ < kKeep ? count_ + 1 : kKeep;
  for (size_t i = n - 1; i > 0; --i) keys_[i] = keys_[i - 1];
  keys_[0] = *k;
  count_ = n;
  OPENSSL_cleanse(&*k, sizeof(TicketKey));
  return {};
}

int64_t TicketKeyRing::next_rotation_unix_ms() const {
  std::lock_guard lock(mu_);
  return keys_[0].created_unix_ms + std::chrono::duration_cast<std::chrono::milliseconds>(kRotation).count();
}

TicketKey TicketKeyRing::current() const {
  std::lock_guard lock(mu_);
  return keys_[0];
}

TicketKeyRing::Match TicketKeyRing::find(const unsigned char* name, TicketKey* out) const {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < count_; ++i) {
    if (std::memcmp(keys_[i].name.data(), name, keys_[i].name.size()) == 0) {
      *out = keys_[i];
      return i == 0 ? Match::Current : Match::Previous;
    }
  }
  return Match::Unknown;
}

size_t TicketKeyRing::size() const {
  std::lock_guard lock(mu_);
  return count_;
}

void TicketKeyRing::install(SSL_CTX* ctx) {
  SSL_CTX_set_ex_data(ctx, ring_index(), this);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
}

}  // namespace turnout

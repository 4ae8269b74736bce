#include "turnout/tls/tls13_record_layer.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace turnout {

namespace {

struct Suite {
  uint16_t id;
  const char* cipher;  // EVP name of the AEAD
  const char* digest;  // the suite's hash, for HKDF
  size_t key_len;
  size_t hash_len;
};

constexpr Suite kSuites[] = {
    {0x1301, "AES-128-GCM", "SHA256", 16, 32},
    {0x1302, "AES-256-GCM", "SHA384", 32, 48},
    {0x1303, "ChaCha20-Poly1305", "SHA256", 32, 32},
};

// Fetched once per process: a fetch walks the provider's tables and takes locks, too slow for a
// record (or even a connection).
EVP_CIPHER* cipher_of(uint8_t suite) {
  static EVP_CIPHER* ciphers[3] = {
      EVP_CIPHER_fetch(nullptr, kSuites[0].cipher, nullptr),
      EVP_CIPHER_fetch(nullptr, kSuites[1].cipher, nullptr),
      EVP_CIPHER_fetch(nullptr, kSuites[2].cipher, nullptr),
  };
  return ciphers[suite];
}

EVP_KDF* hkdf() {
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return kdf;
}

// One AEAD context per thread and direction, shared by every connection of the thread: keyed
// for the last key it was used with (key ids are unique per thread), so a busy connection pays
// only for its nonce, and an idle one holds no context at all.
struct AeadCache {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  uint64_t key_id = 0;
  ~AeadCache() { EVP_CIPHER_CTX_free(ctx); }
};
thread_local AeadCache t_seal;
thread_local AeadCache t_open;
thread_local uint64_t t_next_key_id = 0;

// HKDF-Expand-Label(secret, label, "", len) (RFC 8446 7.1).
bool expand_label(const Suite& s, const unsigned char* secret, const char* label, unsigned char* out, size_t len) {
  unsigned char info[2 + 1 + 255 + 1];
  size_t label_len = std::strlen(label);
  size_t n = 0;
  info[n++] = static_cast<unsigned char>(len >> 8);
  info[n++] = static_cast<unsigned char>(len);
  info[n++] = static_cast<unsigned char>(6 + label_len);
  std::memcpy(info + n, "tls13 ", 6);
  n += 6;
  std::memcpy(info + n, label, label_len);
  n += label_len;
  info[n++] = 0;  // empty context
  EVP_KDF_CTX* k = EVP_KDF_CTX_new(hkdf());
  if (k == nullptr) return false;
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(s.digest), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(secret), s.hash_len),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_end(),
  };
  bool ok = EVP_KDF_derive(k, out, len, params) == 1;
  EVP_KDF_CTX_free(k);
  return ok;
}

// The per-record nonce: the IV xor the 64-bit sequence number, right-aligned (5.3).
void nonce_of(const unsigned char iv[12], uint64_t seq, unsigned char out[12]) {
  std::memcpy(out, iv, 12);
  for (int i = 0; i < 8; ++i) out[11 - i] ^= static_cast<unsigned char>(seq >> (8 * i));
}

// Points the thread's context at `key` (only when another key used it last) and `nonce`.
bool key_context(AeadCache& c, const EVP_CIPHER* cipher, const unsigned char* key, uint64_t key_id,
                 const unsigned char* nonce, int enc) {
  if (c.key_id != key_id) {
    if (EVP_CipherInit_ex2(c.ctx, cipher, nullptr, nullptr, enc, nullptr) != 1) return false;
    if (EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, nullptr) != 1) return false;
    if (EVP_CipherInit_ex2(c.ctx, nullptr, key, nonce, enc, nullptr) != 1) return false;
    c.key_id = key_id;
    return true;
  }
  return EVP_CipherInit_ex2(c.ctx, nullptr, nullptr, nonce, enc, nullptr) == 1;
}

void header_of(size_t length, unsigned char h[5]) {
  h[0] = Tls13RecordLayer::kApplicationData;  // the outer type of every protected record
  h[1] = 0x03;
  h[2] = 0x03;
  h[3] = static_cast<unsigned char>(length >> 8);
  h[4] = static_cast<unsigned char>(length);
}

// Decrypts and authenticates `rec` under key/iv at seq into `out`; false on a bad tag.
bool open_with(uint8_t suite, const unsigned char* key, uint64_t key_id, const unsigned char* iv, uint64_t seq,
               const unsigned char* rec, size_t len, unsigned char* out, AeadCache& cache) {
  unsigned char nonce[12];
  nonce_of(iv, seq, nonce);
  size_t body = len - Tls13RecordLayer::kHeader - Tls13RecordLayer::kTag;
  if (!key_context(cache, cipher_of(suite), key, key_id, nonce, 0)) return false;
  int n = 0;
  if (EVP_DecryptUpdate(cache.ctx, nullptr, &n, rec, Tls13RecordLayer::kHeader) != 1) return false;
  if (EVP_DecryptUpdate(cache.ctx, out, &n, rec + Tls13RecordLayer::kHeader, static_cast<int>(body)) != 1)
    return false;
  if (EVP_CIPHER_CTX_ctrl(cache.ctx, EVP_CTRL_AEAD_SET_TAG, Tls13RecordLayer::kTag,
                          const_cast<unsigned char*>(rec + len - Tls13RecordLayer::kTag)) != 1)
    return false;
  int fin = 0;
  return EVP_DecryptFinal_ex(cache.ctx, out + n, &fin) == 1;
}

}  // namespace

std::unique_ptr<Tls13RecordLayer> Tls13RecordLayer::create(uint16_t suite, std::string_view read_secret,
                                                           std::string_view write_secret, uint64_t read_seq,
                                                           uint64_t write_seq) {
  uint8_t index = 0;
  while (index < 3 && kSuites[index].id != suite) ++index;
  if (index == 3 || cipher_of(index) == nullptr || hkdf() == nullptr) return nullptr;
  const Suite& s = kSuites[index];
  if (read_secret.size() != s.hash_len || write_secret.size() != s.hash_len) return nullptr;
  std::unique_ptr<Tls13RecordLayer> r(new Tls13RecordLayer());
  r->suite_index_ = index;
  std::memcpy(r->read_.secret, read_secret.data(), s.hash_len);
  std::memcpy(r->write_.secret, write_secret.data(), s.hash_len);
  if (!r->derive(r->read_) || !r->derive(r->write_)) return nullptr;
  r->read_.seq = read_seq;
  r->write_.seq = write_seq;
  return r;
}

Tls13RecordLayer::~Tls13RecordLayer() {
  OPENSSL_cleanse(&read_, sizeof read_);
  OPENSSL_cleanse(&write_, sizeof write_);
}

bool Tls13RecordLayer::derive(Direction& d) {
  const Suite& s = kSuites[suite_index_];
  if (!expand_label(s, d.secret, "key", d.key, s.key_len) || !expand_label(s, d.secret, "iv", d.iv, 12)) return false;
  d.key_id = ++t_next_key_id;
  d.seq = 0;
  return true;
}

bool Tls13RecordLayer::next_secret(Direction& d) {
  const Suite& s = kSuites[suite_index_];
  unsigned char next[48];
  if (!expand_label(s, d.secret, "traffic upd", next, s.hash_len)) return false;
  std::memcpy(d.secret, next, s.hash_len);
  OPENSSL_cleanse(next, sizeof next);
  return derive(d);
}

bool Tls13RecordLayer::update_read_key() { return next_secret(read_); }
bool Tls13RecordLayer::update_write_key() { return next_secret(write_); }

bool Tls13RecordLayer::seal(uint8_t type, const char* data, size_t len, std::string& out) {
  if (len == 0) {
    // An empty record on purpose (the caller asked for one): content, none; type; tag.
    std::string_view none;
    return seal_one(type, &none, 1, 0, 0, out);
  }
  std::string_view part(data, len);
  return seal(type, &part, 1, out);
}

bool Tls13RecordLayer::seal(uint8_t type, const std::string_view* parts, size_t count, std::string& out) {
  size_t total = 0;
  for (size_t i = 0; i < count; ++i) total += parts[i].size();
  // Every ciphertext byte of the call at once: one allocation, records appended in place.
  size_t records = (total + kMaxPlaintext - 1) / kMaxPlaintext;
  out.reserve(out.size() + total + records * (kHeader + 1 + kTag));
  size_t part = 0, off = 0;  // where the next record's content starts
  while (total > 0) {
    size_t n = total < kMaxPlaintext ? total : kMaxPlaintext;
    if (!seal_one(type, parts + part, count - part, off, n, out)) return false;
    total -= n;
    // Step over the n bytes just sealed.
    while (n > 0) {
      size_t take = std::min(n, parts[part].size() - off);
      n -= take;
      off += take;
      if (off == parts[part].size()) {
        ++part;
        off = 0;
      }
    }
  }
  return true;
}

bool Tls13RecordLayer::seal_one(uint8_t type, const std::string_view* parts, size_t count, size_t off, size_t n,
                                std::string& out) {
  if (write_.seq == std::numeric_limits<uint64_t>::max()) return false;  // never reuse a nonce
  const EVP_CIPHER* cipher = cipher_of(suite_index_);
  size_t length = n + 1 + kTag;  // content, inner type, tag
  size_t at = out.size();
  out.resize(at + kHeader + length);
  auto* rec = reinterpret_cast<unsigned char*>(out.data() + at);
  header_of(length, rec);
  unsigned char nonce[12];
  nonce_of(write_.iv, write_.seq, nonce);
  if (!key_context(t_seal, cipher, write_.key, write_.key_id, nonce, 1)) return false;
  int k = 0;
  unsigned char* p = rec + kHeader;
  if (EVP_EncryptUpdate(t_seal.ctx, nullptr, &k, rec, kHeader) != 1) return false;
  // The record's content: n bytes from parts[0] at `off` on, across as many parts as it takes.
  for (size_t i = 0, left = n; left > 0 && i < count; ++i, off = 0) {
    size_t take = std::min(left, parts[i].size() - off);
    if (take == 0) continue;
    if (EVP_EncryptUpdate(t_seal.ctx, p, &k, reinterpret_cast<const unsigned char*>(parts[i].data() + off),
                          static_cast<int>(take)) != 1)
      return false;
    p += take;
    left -= take;
  }
  if (EVP_EncryptUpdate(t_seal.ctx, p, &k, &type, 1) != 1) return false;
  if (EVP_EncryptFinal_ex(t_seal.ctx, p + 1, &k) != 1) return false;
  if (EVP_CIPHER_CTX_ctrl(t_seal.ctx, EVP_CTRL_AEAD_GET_TAG, kTag, p + 1) != 1) return false;
  ++write_.seq;
  return true;
}

Tls13RecordLayer::Open Tls13RecordLayer::open(const unsigned char* rec, size_t len, char* out, uint8_t& type,
                                              size_t& got) {
  if (len < kHeader + kTag + 1) return Open::BadMac;  // not even the inner type fits
  if (read_.seq == std::numeric_limits<uint64_t>::max()) return Open::BadMac;
  auto* plain = reinterpret_cast<unsigned char*>(out);
  if (!open_with(suite_index_, read_.key, read_.key_id, read_.iv, read_.seq, rec, len, plain, t_open))
    return Open::BadMac;
  ++read_.seq;
  // TLSInnerPlaintext: content, type, zero padding. The type is the last non-zero byte.
  size_t n = len - kHeader - kTag;
  while (n > 0 && plain[n - 1] == 0) --n;
  if (n == 0) return Open::Unexpected;  // all padding: no type at all
  type = plain[n - 1];
  got = n - 1;
  if (got > kMaxPlaintext) return Open::Overflow;
  return Open::Ok;
}

bool Tls13RecordLayer::opens_as_written(const unsigned char* rec, size_t len, uint64_t seq) {
  if (len < kHeader + kTag + 1 || len > kHeader + kMaxCiphertext) return false;
  std::string scratch(len, '\0');
  return open_with(suite_index_, write_.key, write_.key_id, write_.iv, seq, rec, len,
                   reinterpret_cast<unsigned char*>(scratch.data()), t_open);
}

}  // namespace turnout

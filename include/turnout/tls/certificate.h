// Certificate: one certificate chain and its private key, parsed and checked once, with the facts
// an operator is shown (DNS names, subject, issuer, validity, key type, SHA-256 fingerprint).
//
// A Certificate is immutable once loaded and shared by pointer: a table version holds it, each
// worker's TLS contexts point at it, and it is freed when the last version that named it goes.
// Any thread may read it. The PEM text is kept so a table can be written to the state file and
// handed to a successor on upgrade exactly as it was installed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "turnout/common/error.h"

typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;
struct stack_st_X509;

namespace turnout {

class Certificate;
using CertificatePtr = std::shared_ptr<const Certificate>;

class Certificate {
 public:
  enum class KeyType : uint8_t { Rsa, Ecdsa, Ed25519, Other };

  // Parses a PEM chain (leaf first, then intermediates) and a PEM private key. Fails with a
  // sentence naming `name` for: no certificate, unparsable PEM, a key that does not match the
  // leaf, or a chain whose certificates do not each issue the one before. Expiry is not an error
  // here: the caller decides (files are served with a warning, the admin API refuses).
  static Result<CertificatePtr> from_pem(std::string name, std::string chain_pem, std::string key_pem);
  // The same from files; errors name the file.
  static Result<CertificatePtr> from_files(std::string name, const std::string& chain_path,
                                           const std::string& key_path);

  ~Certificate();
  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;

  const std::string& name() const { return name_; }
  // subjectAltName DNS entries, lower-case; "*.example.com" is a one-label wildcard.
  const std::vector<std::string>& dns_names() const { return dns_names_; }
  const std::string& subject() const { return subject_; }  // RFC 2253
  const std::string& issuer() const { return issuer_; }
  int64_t not_before() const { return not_before_; }  // unix seconds
  int64_t not_after() const { return not_after_; }
  KeyType key_type() const { return key_type_; }
  std::string_view key_type_name() const;
  const std::string& fingerprint_sha256() const { return fingerprint_; }  // "AB:CD:..."
  bool expired(int64_t now_unix) const { return now_unix > not_after_; }
  bool not_yet_valid(int64_t now_unix) const { return now_unix < not_before_; }
  // Whether the certificate serves `host` (lower-case, no port, no trailing dot): an exact DNS
  // name, or a "*." name matching exactly one leading label.
  bool covers(std::string_view host) const;

  const std::string& chain_pem() const { return chain_pem_; }
  const std::string& key_pem() const { return key_pem_; }
  // For building TLS contexts. Owned by the Certificate (valid while it lives).
  X509* leaf() const { return chain_.front(); }
  const std::vector<X509*>& chain() const { return chain_; }  // leaf first
  EVP_PKEY* key() const { return key_; }
  // The intermediates (chain without the leaf) as OpenSSL takes them for a handshake.
  stack_st_X509* intermediates() const { return intermediates_; }

 private:
  Certificate() = default;

  std::string name_;
  std::vector<std::string> dns_names_;
  std::string subject_, issuer_, fingerprint_;
  int64_t not_before_ = 0, not_after_ = 0;
  KeyType key_type_ = KeyType::Other;
  std::string chain_pem_, key_pem_;
  std::vector<X509*> chain_;  // owned (X509_free in the destructor)
  EVP_PKEY* key_ = nullptr;   // owned
  stack_st_X509* intermediates_ = nullptr;  // owned stack, its own references to chain_[1..]
};

// A certificate name in config, the admin API and the state file: 1-128 of [A-Za-z0-9._-].
bool valid_certificate_name(std::string_view name);

// Whether `pattern` (a certificate DNS name, possibly "*.x.y") matches `host`.
bool dns_name_matches(std::string_view pattern, std::string_view host);

}  // namespace turnout

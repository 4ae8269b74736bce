#include "turnout/tls/certificate.h"

#include "turnout/common/file.h"
#include "openssl_util.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace turnout {
namespace {

using tls_detail::openssl_error;

std::string name_text(const X509_NAME* n) {
  BIO* b = BIO_new(BIO_s_mem());
  if (!b) return "";
  X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(b, &data);
  std::string out(data ? data : "", len > 0 ? static_cast<size_t>(len) : 0);
  BIO_free(b);
  return out;
}

bool unix_time(const ASN1_TIME* t, int64_t& out) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return false;
  out = static_cast<int64_t>(timegm(&tm));
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// A file's bytes, or an Invalid error "<what> <path>: <reason>" (a configuration problem).
Result<std::string> read_pem_file(const std::string& path, const char* what) {
  Result<std::string> bytes = read_file(path);
  if (!bytes) return make_error(ErrorKind::Invalid, fmt::format("{} {}", what, bytes.error().message));
  return bytes;
}

}  // namespace

bool valid_certificate_name(std::string_view n) {
  if (n.empty() || n.size() > 128) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
          c == '.'))
      return false;
  return true;
}

bool dns_name_matches(std::string_view pattern, std::string_view host) {
  if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
    // One label, not empty, no dot in it: "*.example.com" serves "a.example.com" only.
    std::string_view suffix = pattern.substr(1);  // ".example.com"
    if (host.size() <= suffix.size()) return false;
    if (host.substr(host.size() - suffix.size()) != suffix) return false;
    std::string_view label = host.substr(0, host.size() - suffix.size());
    return !label.empty() && label.find('.') == std::string_view::npos;
  }
  return pattern == host;
}

Certificate::~Certificate() {
  if (intermediates_) sk_X509_pop_free(intermediates_, X509_free);
  for (X509* x : chain_) X509_free(x);
  EVP_PKEY_free(key_);
}

std::string_view Certificate::key_type_name() const {
  switch (key_type_) {
    case KeyType::Rsa: return "RSA";
    case KeyType::Ecdsa: return "ECDSA";
    case KeyType::Ed25519: return "Ed25519";
    case KeyType::Other: break;
  }
  return "other";
}

bool Certificate::covers(std::string_view host) const {
  for (const std::string& n : dns_names_)
    if (dns_name_matches(n, host)) return true;
  return false;
}

Result<CertificatePtr> Certificate::from_pem(std::string name, std::string chain_pem, std::string key_pem) {
  ERR_clear_error();
  std::shared_ptr<Certificate> c(new Certificate());
  c->name_ = std::move(name);

  BIO* b = BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size()));
  if (!b) return make_error(ErrorKind::Internal, "out of memory reading a certificate");
  while (X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr)) c->chain_.push_back(x);
  // Reading stops at the end of the text (PEM_R_NO_START_LINE) or at a damaged block.
  unsigned long last = ERR_peek_last_error();
  bool clean_end = ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  BIO_free(b);
  if (c->chain_.empty())
    return make_error(ErrorKind::Invalid, fmt::format("certificate {}: no PEM certificate found", c->name_));
  if (last != 0 && !clean_end)
    return make_error(ErrorKind::Invalid, fmt::format("certificate {}: certificate {} of the chain is not valid PEM: {}", c->name_,
                                       c->chain_.size() + 1, openssl_error()));
  ERR_clear_error();

  b = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  if (!b) return make_error(ErrorKind::Internal, "out of memory reading a key");
  c->key_ = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  if (!c->key_)
    return make_error(ErrorKind::Invalid, fmt::format("certificate {}: the key is not a PEM private key (or is encrypted): {}",
                                       c->name_, openssl_error()));
  if (X509_check_private_key(c->leaf(), c->key_) != 1) {
    ERR_clear_error();
    return make_error(ErrorKind::Invalid, fmt::format("certificate {}: the key does not match the certificate", c->name_));
  }
  for (size_t i = 1; i < c->chain_.size(); ++i) {
    if (X509_check_issued(c->chain_[i], c->chain_[i - 1]) != X509_V_OK)
      return make_error(ErrorKind::Invalid, fmt::format("certificate {}: certificate {} of the chain did not issue certificate {} "
                                         "(the chain must run from the leaf up)",
                                         c->name_, i + 1, i));
  }

  X509* leaf = c->leaf();
  if (!unix_time(X509_get0_notBefore(leaf), c->not_before_) || !unix_time(X509_get0_notAfter(leaf), c->not_after_))
    return make_error(ErrorKind::Invalid, fmt::format("certificate {}: unreadable validity dates", c->name_));
  c->subject_ = name_text(X509_get_subject_name(leaf));
  c->issuer_ = name_text(X509_get_issuer_name(leaf));

  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      if (g->type != GEN_DNS) continue;
      const unsigned char* p = ASN1_STRING_get0_data(g->d.dNSName);
      int n = ASN1_STRING_length(g->d.dNSName);
      if (p && n > 0) {
        std::string dns = lower(std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(n)));
        if (!dns.empty() && dns.back() == '.') dns.pop_back();
        if (!dns.empty()) c->dns_names_.push_back(std::move(dns));
      }
    }
    GENERAL_NAMES_free(sans);
  }

  switch (EVP_PKEY_get_base_id(c->key_)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS: c->key_type_ = KeyType::Rsa; break;
    case EVP_PKEY_EC: c->key_type_ = KeyType::Ecdsa; break;
    case EVP_PKEY_ED25519: c->key_type_ = KeyType::Ed25519; break;
    default: c->key_type_ = KeyType::Other; break;
  }

  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(leaf, EVP_sha256(), md, &md_len) != 1)
    return make_error(ErrorKind::Internal, fmt::format("certificate {}: fingerprint: {}", c->name_, openssl_error()));
  static const char* hex = "0123456789ABCDEF";
  for (unsigned int i = 0; i < md_len; ++i) {
    if (i) c->fingerprint_ += ':';
    c->fingerprint_ += hex[md[i] >> 4];
    c->fingerprint_ += hex[md[i] & 15];
  }
  c->intermediates_ = sk_X509_new_null();
  if (!c->intermediates_) return make_error(ErrorKind::Internal, "out of memory building a certificate chain");
  for (size_t i = 1; i < c->chain_.size(); ++i) {
    X509_up_ref(c->chain_[i]);
    sk_X509_push(c->intermediates_, c->chain_[i]);
  }
  c->chain_pem_ = std::move(chain_pem);
  c->key_pem_ = std::move(key_pem);
  return CertificatePtr(std::move(c));
}

Result<CertificatePtr> Certificate::from_files(std::string name, const std::string& chain_path,
                                               const std::string& key_path) {
  auto chain = read_pem_file(chain_path, "cert");
  if (!chain) return chain.error();
  auto key = read_pem_file(key_path, "key");
  if (!key) return key.error();
  auto c = from_pem(name, std::move(*chain), std::move(*key));
  if (!c) {
    // Say which file: a key problem is the key file's, anything else the chain's.
    const std::string& m = c.error().message;
    bool about_key = m.find("the key") != std::string::npos;
    return make_error(c.error().kind, fmt::format("{} ({})", m, about_key ? key_path : chain_path));
  }
  return c;
}

}  // namespace turnout

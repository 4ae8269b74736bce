// Certificates made in-process for the tls unit tests: any key family, names and validity,
// self-signed or issued by a test CA, as PEM text like an operator's files.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace turnout::test {

struct Pem {
  std::string cert;  // the certificate (a chain when a CA issued it: leaf, then CA)
  std::string key;
  std::shared_ptr<X509> x509;      // kept for issuing others
  std::shared_ptr<EVP_PKEY> pkey;
};

struct CertSpec {
  std::string cn = "test";
  std::vector<std::string> dns;  // subjectAltName DNS entries
  bool ecdsa = true;             // P-256, else RSA 2048
  long valid_from_s = -3600;     // relative to now
  long valid_until_s = 86400;
  const Pem* issuer = nullptr;   // null: self-signed
  bool ca = false;
};

inline std::string pem_of(X509* x) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string out(p, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

inline std::string pem_of(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string out(p, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

inline Pem make_cert(const CertSpec& s) {
  static long serial = 1;
  Pem out;
  out.pkey.reset(s.ecdsa ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048), EVP_PKEY_free);
  out.x509.reset(X509_new(), X509_free);
  X509* x = out.x509.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), s.valid_from_s);
  X509_gmtime_adj(X509_getm_notAfter(x), s.valid_until_s);
  X509_set_pubkey(x, out.pkey.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(s.cn.c_str()), -1, -1, 0);
  X509* issuer_cert = s.issuer ? s.issuer->x509.get() : x;
  EVP_PKEY* issuer_key = s.issuer ? s.issuer->pkey.get() : out.pkey.get();
  X509_set_issuer_name(x, X509_get_subject_name(issuer_cert));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer_cert, x, nullptr, nullptr, 0);
  auto add_ext = [&](int nid, const std::string& value) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (e) {
      X509_add_ext(x, e, -1);
      X509_EXTENSION_free(e);
    }
  };
  if (!s.dns.empty()) {
    std::string san;
    for (const auto& d : s.dns) san += (san.empty() ? "DNS:" : ",DNS:") + d;
    add_ext(NID_subject_alt_name, san);
  }
  add_ext(NID_basic_constraints, s.ca ? "critical,CA:TRUE" : "CA:FALSE");
  add_ext(NID_subject_key_identifier, "hash");
  if (s.issuer) add_ext(NID_authority_key_identifier, "keyid");
  X509_sign(x, issuer_key, EVP_sha256());
  out.cert = pem_of(x) + (s.issuer ? s.issuer->cert : std::string());
  out.key = pem_of(out.pkey.get());
  return out;
}

}  // namespace turnout::test

// CertificateSet: the certificates of one table version, indexed for SNI.
//
// Selection (DESIGN.md, TLS): the exact name, then a one-label wildcard, then the default
// certificate; nothing found means the handshake fails with unrecognized_name. Several
// certificates may serve one name: for each key family (ECDSA, RSA) the one valid longest (latest
// notAfter) is kept, and the handshake takes ECDSA when the client can verify it, RSA otherwise.
//
// Immutable once built; shared by pointer with the table version that owns it, read by every
// worker without locks.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "turnout/tls/certificate.h"

namespace turnout {

class CertificateSet;
using CertificateSetPtr = std::shared_ptr<const CertificateSet>;

class CertificateSet {
 public:
  // The certificates able to serve one name: the longest-valid of each key family.
  struct Candidates {
    const Certificate* ecdsa = nullptr;
    const Certificate* rsa = nullptr;    // RSA (or any non-ECDSA key)
    bool empty() const { return !ecdsa && !rsa; }
    // The one to present: ECDSA if the client supports it, else the other; nullptr if none.
    const Certificate* pick(bool client_supports_ecdsa) const;
  };

  // `by_name` maps certificate names to certificates; `default_name` may be empty (no default).
  // Fails if the default names no certificate.
  static Result<CertificateSetPtr> build(std::map<std::string, CertificatePtr> by_name, std::string default_name);
  // The set of a table without certificates (shared).
  static const CertificateSetPtr& empty();

  // SNI as sent (any case, maybe a trailing dot); empty = the client sent none.
  Candidates select(std::string_view server_name) const;
  const std::map<std::string, CertificatePtr>& by_name() const { return by_name_; }
  const std::string& default_name() const { return default_name_; }
  const Certificate* find(std::string_view name) const;
  bool none() const { return by_name_.empty(); }

 private:
  CertificateSet() = default;
  static void add(Candidates& c, const Certificate* cert);

  std::map<std::string, CertificatePtr> by_name_;
  std::string default_name_;
  Candidates default_;
  std::unordered_map<std::string, Candidates> exact_;     // "www.example.com"
  std::unordered_map<std::string, Candidates> wildcard_;  // "example.com" for "*.example.com"
};

}  // namespace turnout

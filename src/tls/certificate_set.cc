#include "turnout/tls/certificate_set.h"

#include <fmt/format.h>

namespace turnout {
namespace {

std::string normalise(std::string_view name) {
  std::string out(name);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

// Of two certificates for one name and key family, the one valid longest; on a tie the name
// decides, so the choice never depends on map order.
bool better(const Certificate* a, const Certificate* b) {
  if (!b) return true;
  if (a->not_after() != b->not_after()) return a->not_after() > b->not_after();
  return a->name() < b->name();
}

}  // namespace

const Certificate* CertificateSet::Candidates::pick(bool client_supports_ecdsa) const {
  if (ecdsa && (client_supports_ecdsa || !rsa)) return ecdsa;
  return rsa;
}

void CertificateSet::add(Candidates& c, const Certificate* cert) {
  const Certificate*& slot = cert->key_type() == Certificate::KeyType::Ecdsa ? c.ecdsa : c.rsa;
  if (better(cert, slot)) slot = cert;
}

Result<CertificateSetPtr> CertificateSet::build(std::map<std::string, CertificatePtr> by_name,
                                                std::string default_name) {
  std::shared_ptr<CertificateSet> s(new CertificateSet());
  for (const auto& [name, cert] : by_name) {
    for (const std::string& dns : cert->dns_names()) {
      if (dns.size() > 2 && dns[0] == '*' && dns[1] == '.')
        add(s->wildcard_[dns.substr(2)], cert.get());
      else
        add(s->exact_[dns], cert.get());
    }
  }
  if (!default_name.empty()) {
    auto it = by_name.find(default_name);
    if (it == by_name.end())
      return make_error(ErrorKind::Invalid, fmt::format("default_certificate {} names no certificate", default_name));
    add(s->default_, it->second.get());
  }
  s->by_name_ = std::move(by_name);
  s->default_name_ = std::move(default_name);
  return CertificateSetPtr(std::move(s));
}

const CertificateSetPtr& CertificateSet::empty() {
  static const CertificateSetPtr none(new CertificateSet());
  return none;
}

CertificateSet::Candidates CertificateSet::select(std::string_view server_name) const {
  if (!server_name.empty()) {
    std::string name = normalise(server_name);
    if (auto it = exact_.find(name); it != exact_.end()) return it->second;
    size_t dot = name.find('.');
    if (dot != std::string::npos && dot > 0) {
      if (auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end()) return it->second;
    }
  }
  return default_;
}

const Certificate* CertificateSet::find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : it->second.get();
}

}  // namespace turnout

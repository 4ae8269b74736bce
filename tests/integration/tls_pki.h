// Helpers for the TLS integration tests: shell commands (openssl, curl) and a test CA whose
// certificates are made at test time by the openssl CLI.
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "integration/harness.h"

namespace turnout::test {

struct Run {
  int code = -1;
  std::string out;
};

// Runs a shell command (stderr joined to stdout), at most 20 s.
inline Run run(const std::string& cmd) {
  Run r;
  FILE* p = ::popen(("timeout 20 " + cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// A test CA and certificates it issues (ECDSA P-256), in a temp dir.
struct Pki {
  TempDir dir;
  Pki() {
    Run ca = run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=TestCA"
                 " -keyout " + dir.file("ca.key") + " -out " + dir.file("ca.crt"));
    REQUIRE_MESSAGE(ca.code == 0, ca.out);
  }
  std::string ca() const { return dir.file("ca.crt"); }
  std::string crt(const std::string& name) const { return dir.file(name + ".crt"); }
  std::string key(const std::string& name) const { return dir.file(name + ".key"); }
  // Issues `name`.crt/.key with CN=`name` for the comma-separated DNS names; `rsa` for an RSA
  // 2048 key, else ECDSA P-256.
  void issue(const std::string& name, const std::string& dns, bool rsa = false) {
    std::string csr = dir.file(name + ".csr"), ext = dir.file(name + ".ext");
    std::string newkey = rsa ? "rsa:2048" : "ec -pkeyopt ec_paramgen_curve:P-256";
    Run req = run("openssl req -newkey " + newkey + " -nodes -subj /CN=" + name + " -keyout " + key(name) + " -out " +
                  csr);
    REQUIRE_MESSAGE(req.code == 0, req.out);
    std::string san;
    size_t start = 0;
    while (start < dns.size()) {
      size_t comma = dns.find(',', start);
      san += (san.empty() ? "DNS:" : ",DNS:") + dns.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      start = comma == std::string::npos ? dns.size() : comma + 1;
    }
    dir.write(name + ".ext", "subjectAltName=" + san + "\n");
    Run x = run("openssl x509 -req -in " + csr + " -CA " + ca() + " -CAkey " + dir.file("ca.key") +
                " -CAcreateserial -days 10 -extfile " + ext + " -out " + crt(name));
    REQUIRE_MESSAGE(x.code == 0, x.out);
  }
  // The PUT /v1/certificates body for `name`.
  std::string body(const std::string& name) const {
    return nlohmann::json{{"cert", read_file(crt(name))}, {"key", read_file(key(name))}}.dump();
  }
  // A line from the middle of `name`'s key: what must never be seen outside the key file.
  std::string key_line(const std::string& name) const {
    std::string k = read_file(key(name));
    size_t a = k.find('\n') + 1;
    return k.substr(a, k.find('\n', a) - a);
  }
  std::string entry(const std::string& name) const {
    return "    " + name + ": { cert: " + crt(name) + ", key: " + key(name) + " }\n";
  }
};

}  // namespace turnout::test

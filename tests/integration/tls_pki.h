// Helpers for the TLS integration tests: shell commands (openssl, curl) and a test CA whose
// certificates are made at test time by the openssl CLI.
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

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
  // Issues `name`.crt/.key for one DNS name.
  void issue(const std::string& name, const std::string& dns) {
    std::string csr = dir.file(name + ".csr"), ext = dir.file(name + ".ext");
    Run req = run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + name + " -keyout " +
                  key(name) + " -out " + csr);
    REQUIRE_MESSAGE(req.code == 0, req.out);
    dir.write(name + ".ext", "subjectAltName=DNS:" + dns + "\n");
    Run x = run("openssl x509 -req -in " + csr + " -CA " + ca() + " -CAkey " + dir.file("ca.key") +
                " -CAcreateserial -days 10 -extfile " + ext + " -out " + crt(name));
    REQUIRE_MESSAGE(x.code == 0, x.out);
  }
  std::string entry(const std::string& name) const {
    return "    " + name + ": { cert: " + crt(name) + ", key: " + key(name) + " }\n";
  }
};

}  // namespace turnout::test

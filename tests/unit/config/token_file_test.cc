#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "turnout/config/config_loader.h"
#include "turnout/config/token_file.h"

using namespace turnout;

namespace {

// A fresh directory under /tmp, removed (with the files these tests make) at scope exit.
struct Dir {
  std::string path;
  Dir() {
    char tmpl[] = "/tmp/turnout-token-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~Dir() {
    for (const char* f : {"/t", "/link"}) ::unlink((path + f).c_str());
    ::rmdir(path.c_str());
  }
};

void write(const std::string& path, const std::string& content, mode_t mode) {
  std::ofstream(path) << content;
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

}  // namespace

TEST_CASE("token file: created 0600 with 64 hex digits, then reused") {
  Dir d;
  const std::string path = d.path + "/t";
  mode_t old = ::umask(0);
  Result<TokenFile> made = load_or_create_token_file(path);
  ::umask(old);
  REQUIRE_MESSAGE(made.ok(), made.error().message);
  CHECK(made->created);
  CHECK(made->token.size() == 64);
  CHECK(made->token.find_first_not_of("0123456789abcdef") == std::string::npos);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);

  Result<TokenFile> again = load_or_create_token_file(path);
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
  CHECK(again->token == made->token);
  CHECK(read_token_file(path).value() == made->token);

  Dir d2;
  Result<TokenFile> other = load_or_create_token_file(d2.path + "/t");
  REQUIRE(other.ok());
  CHECK(other->token != made->token);
}

TEST_CASE("token file: refused when others may read it, empty, not a file, or a symlink") {
  Dir d;
  const std::string path = d.path + "/t";
  write(path, "  tok-1  \n", 0600);
  CHECK(read_token_file(path).value() == "tok-1");
  write(path, "tok-1\n", 0640);
  Result<std::string> loose = read_token_file(path);
  REQUIRE_FALSE(loose.ok());
  CHECK(loose.error().message.find("chmod 600 " + path) != std::string::npos);
  CHECK_FALSE(load_or_create_token_file(path).ok());  // never silently replaced
  write(path, "\n", 0600);
  CHECK(read_token_file(path).error().message.find("empty") != std::string::npos);
  write(path, "two\nlines\n", 0600);
  CHECK_FALSE(read_token_file(path).ok());
  CHECK_FALSE(read_token_file(d.path).ok());                     // a directory
  CHECK_FALSE(read_token_file(d.path + "/missing").ok());
  write(path, "tok-1\n", 0600);
  REQUIRE(::symlink(path.c_str(), (d.path + "/link").c_str()) == 0);
  CHECK_FALSE(read_token_file(d.path + "/link").ok());           // not followed
  CHECK_FALSE(load_or_create_token_file(d.path + "/link").ok());
}

TEST_CASE("admin.token_file defaults to turnout.token beside the admin socket; open_reads is read") {
  const std::string base = "listen: 127.0.0.1:8080\napps: {a: {servers: [\"127.0.0.1:9\"]}}\nroutes: {a.test: [a]}\n";
  auto admin_of = [&](const std::string& admin) {
    LoadResult r = parse_config(base + admin, "t.yaml");
    REQUIRE_MESSAGE(r.ok(), (r.errors.empty() ? "" : r.errors.front().to_string()));
    return r.config->admin;
  };
  CHECK(admin_of("").token_file == "./turnout.token");
  CHECK(admin_of("").open_reads == false);
  CHECK(admin_of("admin: {socket: /run/turnout/turnout.sock}\n").token_file == "/run/turnout/turnout.token");
  CHECK(admin_of("admin: {socket: \"\", http: 127.0.0.1:9901}\n").token_file == "./turnout.token");
  AdminSpec a = admin_of("admin: {http: 127.0.0.1:9901, token_file: /etc/turnout/admin.token, open_reads: true}\n");
  CHECK(a.token_file == "/etc/turnout/admin.token");
  CHECK(a.open_reads);
  LoadResult bad = parse_config(base + "admin: {open_reads: maybe}\n", "t.yaml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.errors.front().key == "admin.open_reads");
}

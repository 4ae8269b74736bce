#include "turnout/config/token_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace turnout {

namespace {

constexpr size_t kTokenBytes = 32;      // 256 bits of randomness
constexpr size_t kMaxTokenFile = 4096;  // a token file is one short line

Error token_error(std::string message) { return make_error(ErrorKind::Internal, std::move(message)); }

// Closes the descriptor on every return path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Result<std::string> random_token() {
  unsigned char bytes[kTokenBytes];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return token_error(fmt::format("cannot generate an admin token: getrandom: {}", std::strerror(errno)));
    }
    got += static_cast<size_t>(n);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string trim(std::string s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.back())) s.pop_back();
  size_t start = 0;
  while (start < s.size() && space(s[start])) ++start;
  return s.substr(start);
}

}  // namespace

Result<std::string> read_token_file(const std::string& path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (f.fd < 0) return token_error(fmt::format("cannot read admin token file {}: {}", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return token_error(fmt::format("cannot stat admin token file {}: {}", path, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return token_error(fmt::format("admin token file {} is not a regular file", path));
  if ((st.st_mode & 077) != 0) {
    return token_error(fmt::format("admin token file {} is accessible to other users (mode {:04o}); "
                                   "run: chmod 600 {}", path, st.st_mode & 07777, path));
  }
  std::string content;
  char buf[512];
  while (content.size() <= kMaxTokenFile) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return token_error(fmt::format("cannot read admin token file {}: {}", path, std::strerror(errno)));
    }
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
  }
  if (content.size() > kMaxTokenFile) return token_error(fmt::format("admin token file {} is too large", path));
  std::string token = trim(std::move(content));
  if (token.empty()) return token_error(fmt::format("admin token file {} is empty", path));
  for (char c : token) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return token_error(fmt::format("admin token file {} holds more than one line or a control character", path));
    }
  }
  return token;
}

Result<TokenFile> load_or_create_token_file(const std::string& path) {
  // O_EXCL: an existing file (or a symlink planted there) is never overwritten or followed.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno != EEXIST) {
      return token_error(fmt::format("cannot create admin token file {}: {}", path, std::strerror(errno)));
    }
    Result<std::string> existing = read_token_file(path);
    if (!existing) return existing.error();
    return TokenFile{std::move(*existing), false};
  }
  Fd f{fd};
  auto fail = [&](const char* what) -> Error {
    int e = errno;
    ::unlink(path.c_str());  // no half-written secret is left to be reused
    return token_error(fmt::format("cannot {} admin token file {}: {}", what, path, std::strerror(e)));
  };
  // The umask may have narrowed 0600 further; it can never have widened it. Make it exactly 0600.
  if (::fchmod(f.fd, 0600) != 0) return fail("chmod");
  Result<std::string> token = random_token();
  if (!token) {
    ::unlink(path.c_str());
    return token.error();
  }
  std::string line = *token + "\n";
  for (size_t done = 0; done < line.size();) {
    ssize_t n = ::write(f.fd, line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(f.fd) != 0) return fail("sync");
  return TokenFile{std::move(*token), true};
}

}  // namespace turnout

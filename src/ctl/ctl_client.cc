#include "turnout/ctl/ctl_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "turnout/common/address.h"

namespace turnout {

namespace {

constexpr const char* kHint = "(is turnout running? set -s SOCKET)";

// Closes the descriptor on every return path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Error connect_error(const std::string& target, int err) {
  return make_error(ErrorKind::Io, fmt::format("cannot connect to {}: {} {}", target, std::strerror(err), kHint));
}

bool iequals_prefix(std::string_view line, std::string_view name) {
  if (line.size() < name.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  }
  return true;
}

}  // namespace

Result<CtlAnswer> parse_http_answer(const std::string& raw) {
  std::string_view rest(raw);
  while (true) {
    size_t end = rest.find("\r\n\r\n");
    if (end == std::string_view::npos) return make_error(ErrorKind::Io, "incomplete answer from turnout");
    std::string_view head = rest.substr(0, end);
    rest.remove_prefix(end + 4);
    if (head.size() < 12 || head.substr(0, 7) != "HTTP/1." || head[8] != ' ') {
      return make_error(ErrorKind::Io, "malformed answer from turnout");
    }
    int status = 0;
    for (size_t i = 9; i < 12; ++i) {
      if (head[i] < '0' || head[i] > '9') return make_error(ErrorKind::Io, "malformed answer from turnout");
      status = status * 10 + (head[i] - '0');
    }
    if (status >= 100 && status < 200) continue;  // 100 Continue: the real answer follows
    std::optional<size_t> length;
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos) {
      size_t next = head.find("\r\n", pos + 2);
      std::string_view line = head.substr(pos + 2, next == std::string_view::npos ? std::string_view::npos : next - pos - 2);
      if (iequals_prefix(line, "content-length:")) {
        std::string_view v = line.substr(15);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        size_t n = 0;
        for (char c : v) {
          if (c < '0' || c > '9') break;
          n = n * 10 + static_cast<size_t>(c - '0');
        }
        length = n;
      }
      pos = next;
    }
    CtlAnswer answer;
    answer.status = status;
    if (length) {
      if (rest.size() < *length) return make_error(ErrorKind::Io, "truncated answer from turnout");
      rest = rest.substr(0, *length);
    }
    answer.body = std::string(rest);
    return answer;
  }
}

Result<CtlAnswer> ctl_call(const std::string& target, const std::string& token, const CtlRequest& request) {
  Fd sock;
  std::string host_header = "turnout";
  if (target.rfind("http://", 0) == 0) {
    std::string hostport = target.substr(7);
    if (size_t slash = hostport.find('/'); slash != std::string::npos) hostport.resize(slash);
    Result<SocketAddress> addr = parse_address(hostport);
    if (!addr) return make_error(ErrorKind::Io, fmt::format("bad admin address {}: {}", target, addr.error().message));
    sock.fd = ::socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock.fd < 0) return connect_error(target, errno);
    if (::connect(sock.fd, addr->sa(), addr->length) != 0) return connect_error(target, errno);
    host_header = hostport;
  } else {
    std::string path = target.rfind("unix:", 0) == 0 ? target.substr(5) : target;
    sockaddr_un sun{};
    if (path.size() >= sizeof sun.sun_path) return connect_error(target, ENAMETOOLONG);
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    sock.fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock.fd < 0) return connect_error(target, errno);
    if (::connect(sock.fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) return connect_error(target, errno);
  }

  std::string out = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: turnout-ctl\r\nAccept: application/json\r\n"
                                "Connection: close\r\n",
                                request.method, request.path, host_header);
  if (!token.empty()) out += fmt::format("Authorization: Bearer {}\r\n", token);
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
    out += fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n", request.body.size());
  }
  out += "\r\n";
  out += request.body;

  for (size_t sent = 0; sent < out.size();) {
    ssize_t n = ::send(sock.fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(ErrorKind::Io, fmt::format("cannot send to {}: {}", target, std::strerror(errno)));
    }
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[16384];
  while (true) {
    ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNRESET && !raw.empty()) break;
      return make_error(ErrorKind::Io, fmt::format("cannot read from {}: {}", target, std::strerror(errno)));
    }
    if (n == 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  if (raw.empty()) return make_error(ErrorKind::Io, fmt::format("{} closed the connection without answering", target));
  return parse_http_answer(raw);
}

}  // namespace turnout

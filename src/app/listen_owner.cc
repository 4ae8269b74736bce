#include "turnout/app/listen_owner.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "turnout/common/log.h"
#include "turnout/net/acceptor.h"

namespace turnout {

namespace {

constexpr int kAskTimeoutMs = 2000;  // a holder busy for longer is still named, by its pid

// The abstract address for `name`; its length goes to *len.
sockaddr_un abstract_address(const std::string& name, socklen_t* len) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  size_t n = std::min(name.size(), sizeof sun.sun_path - 1);
  std::memcpy(sun.sun_path + 1, name.data(), n);  // sun_path[0] == '\0': abstract namespace
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
  return sun;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string absolute(const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof cwd) == nullptr) return path;
  std::string p = path.rfind("./", 0) == 0 ? path.substr(2) : path;
  return std::string(cwd) + "/" + p;
}

}  // namespace

ListenOwner::ListenOwner(uv_loop_t* loop, const std::string& admin_socket) : loop_(loop) {
  nlohmann::json j = {{"pid", static_cast<int64_t>(::getpid())}, {"admin_socket", absolute(admin_socket)}};
  answer_ = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

ListenOwner::~ListenOwner() { close(); }

std::string ListenOwner::claim_name(const std::string& addr) { return "turnout-listen:" + addr; }

Result<void> ListenOwner::claim(const std::string& addr) {
  if (claims_.count(addr)) return {};
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return make_error(ErrorKind::Internal, fmt::format("listen {}: cannot create its claim socket: {}", addr, std::strerror(errno)));
  socklen_t len = 0;
  sockaddr_un sun = abstract_address(claim_name(addr), &len);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sun), len) != 0) {
    int e = errno;
    ::close(fd);
    if (e == EADDRINUSE) return holder_error(addr);
    return make_error(ErrorKind::Internal, fmt::format("listen {}: cannot claim the address: {}", addr, std::strerror(e)));
  }
  if (::listen(fd, 16) != 0) {
    int e = errno;
    ::close(fd);
    return make_error(ErrorKind::Internal, fmt::format("listen {}: cannot claim the address: {}", addr, std::strerror(e)));
  }
  serve(addr, fd);
  return {};
}

void ListenOwner::adopt(const std::string& addr, int fd) {
  if (claims_.count(addr)) {
    ::close(fd);
    return;
  }
  serve(addr, fd);
}

void ListenOwner::serve(const std::string& addr, int fd) {
  Acceptor* a = Acceptor::open(loop_, fd, [this](int conn, const sockaddr*, socklen_t) {
    answer(conn);
    return true;
  });
  // Without an Acceptor the name is gone with the fd; the listener still runs, unguarded.
  if (a == nullptr) {
    TLOG_WARN("cannot answer on the listen claim", "addr={}", addr);
    return;
  }
  claims_[addr] = a;
}

void ListenOwner::answer(int fd) {
  // A fresh connection's send buffer takes one short line at once; never block the loop on it.
  (void)!::send(fd, answer_.data(), answer_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::close(fd);
}

void ListenOwner::close() {
  for (auto& [addr, acceptor] : claims_) acceptor->close();
  claims_.clear();
}

std::map<std::string, int> ListenOwner::fds() const {
  std::map<std::string, int> out;
  for (const auto& [addr, acceptor] : claims_) out[addr] = acceptor->fd();
  return out;
}

Error ListenOwner::holder_error(const std::string& addr) {
  const std::string advice = "stop it first, or replace it with `turnout upgrade`";
  Fd f;
  f.fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  socklen_t len = 0;
  sockaddr_un sun = abstract_address(claim_name(addr), &len);
  if (f.fd < 0 || ::connect(f.fd, reinterpret_cast<sockaddr*>(&sun), len) != 0) {
    return make_error(ErrorKind::Internal, fmt::format("another turnout is starting on {} (its claim does not answer); {}", addr, advice));
  }
  // The pid the kernel recorded when the claim started listening: the fallback when the
  // holder does not answer in time (after an upgrade it names the predecessor).
  ucred cred{};
  socklen_t cred_len = sizeof cred;
  bool have_cred = ::getsockopt(f.fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0;
  std::string line;
  char buf[512];
  pollfd p{f.fd, POLLIN, 0};
  while (line.find('\n') == std::string::npos && line.size() < 4096 && ::poll(&p, 1, kAskTimeoutMs) > 0) {
    ssize_t n = ::recv(f.fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  nlohmann::json j = nlohmann::json::parse(line.substr(0, line.find('\n')), nullptr, false);
  if (j.is_object() && j.contains("pid") && j["pid"].is_number_integer()) {
    std::string socket = j.value("admin_socket", std::string());
    return make_error(ErrorKind::Internal, fmt::format("another turnout (pid {}, admin socket {}) already serves {}; {}",
                                       j["pid"].get<int64_t>(), socket.empty() ? "none" : socket, addr, advice));
  }
  if (have_cred) {
    return make_error(ErrorKind::Internal, fmt::format("another turnout (pid {}) already serves {}; {}", cred.pid, addr, advice));
  }
  return make_error(ErrorKind::Internal, fmt::format("another turnout already serves {}; {}", addr, advice));
}

}  // namespace turnout

#include "turnout/admin/admin_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "turnout/admin/admin_connection.h"
#include "turnout/common/address.h"
#include "turnout/common/log.h"
#include "turnout/net/acceptor.h"
#include "turnout/net/listener.h"

namespace turnout {

namespace {

// Idle read chunks kept for the admin connections (64 KiB each): admin traffic is light.
constexpr size_t kIdleChunks = 4;

Error start_error(std::string message) { return make_error(ErrorKind::Internal, std::move(message)); }

void close_acceptor(Acceptor*& acceptor) {
  if (acceptor == nullptr) return;
  acceptor->close();
  acceptor = nullptr;
}

// Is a process accepting on the unix socket at `path`? Returns 1 live, 0 stale (connect
// refused: the file outlived a crashed run), or -errno when that cannot be told.
int probe_unix_socket(const std::string& path) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -errno;
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun);
  int err = rc == 0 ? 0 : errno;
  ::close(fd);
  if (rc == 0 || err == EAGAIN || err == EINPROGRESS) return 1;  // EAGAIN: live, backlog full
  if (err == ECONNREFUSED) return 0;
  return -err;
}

}  // namespace

AdminServer::AdminServer(uv_loop_t* loop, AdminActions& actions, AdminOptions options)
    : loop_(loop), actions_(actions), options_(std::move(options)), chunks_(std::make_shared<ChunkPool>(kIdleChunks)) {}

AdminServer::~AdminServer() { close(); }

Result<void> AdminServer::start() {
  if (closed_) return start_error("admin server was closed");
  if (!options_.socket_path.empty()) {
    Result<void> r = start_unix();
    if (!r) {
      close();
      return r;
    }
  }
  if (!options_.tcp_addr.empty()) {
    Result<void> r = start_tcp();
    if (!r) {
      close();
      return r;
    }
  }
  return {};
}

Result<void> AdminServer::start_unix() {
  const std::string& path = options_.socket_path;
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return start_error(fmt::format("admin socket path {} is too long ({} bytes, at most {})", path, path.size(),
                                   sizeof(sockaddr_un::sun_path) - 1));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return start_error(fmt::format("admin socket {} exists and is not a socket; not replacing it", path));
    }
    int live = probe_unix_socket(path);
    if (live == 1) return start_error(fmt::format("admin socket {} is in use by a running turnout", path));
    if (live == 0) {
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return start_error(fmt::format("cannot remove stale admin socket {}: {}", path, std::strerror(errno)));
      }
      TLOG_INFO("removed stale admin socket", "path={}", log_quote(path));
    } else if (live != -ENOENT) {
      return start_error(fmt::format("cannot tell whether admin socket {} is in use: {}", path, std::strerror(-live)));
    }
  }

  // Bound here rather than by uv_pipe_bind: libuv unlinks the path of a socket it bound when the
  // handle closes, which would delete the file under a successor that took the socket over on
  // upgrade. close() unlinks it itself, and only if it is still our file.
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return start_error(fmt::format("cannot create admin socket {}: {}", path, std::strerror(errno)));
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  // umask around bind: the socket never exists with wider permissions, not even briefly.
  mode_t old_mask = ::umask(0177);
  int brc = ::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun);
  int bind_errno = errno;
  ::umask(old_mask);
  if (brc != 0) {
    ::close(fd);
    return start_error(fmt::format("cannot bind admin socket {}: {}", path, std::strerror(bind_errno)));
  }
  if (::lstat(path.c_str(), &st) == 0) {
    socket_dev_ = st.st_dev;
    socket_ino_ = st.st_ino;
  }
  if (::chmod(path.c_str(), 0600) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return start_error(fmt::format("cannot chmod admin socket {}: {}", path, std::strerror(e)));
  }
  if (::listen(fd, kAdminBacklog) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return start_error(fmt::format("cannot listen on admin socket {}: {}", path, std::strerror(e)));
  }
  unix_ = serve(fd, false);
  if (unix_ == nullptr) {
    ::unlink(path.c_str());
    return start_error(fmt::format("cannot serve admin socket {}", path));
  }
  TLOG_INFO("admin listening", "socket={}", log_quote(path));
  return {};
}

Result<void> AdminServer::start_tcp() {
  Result<SocketAddress> addr = parse_address(options_.tcp_addr);
  if (!addr) return start_error(fmt::format("admin http {}: {}", options_.tcp_addr, addr.error().message));
  if (addr->is_unix()) return start_error(fmt::format("admin http {} must be host:port", options_.tcp_addr));
  if (!addr->is_loopback()) {
    if (!options_.allow_remote) {
      return start_error(fmt::format("admin http {} is not a loopback address; set admin.allow_remote: true "
                                     "(and admin.token) to listen there", options_.tcp_addr));
    }
    if (options_.token.empty()) {
      return start_error(fmt::format("admin http {} listens beyond loopback and needs admin.token", options_.tcp_addr));
    }
  }
  if (options_.token.empty()) {
    return start_error(fmt::format("admin http {} needs a token (admin.token or admin.token_file)", options_.tcp_addr));
  }
  // No SO_REUSEPORT here: a second turnout must not share the admin port.
  Result<int> fd = open_listen_socket(*addr, ListenOptions{.reuse_port = false, .backlog = kAdminBacklog});
  if (!fd) return start_error(fmt::format("admin http: {}", fd.error().message));
  tcp_ = serve(*fd, true);
  if (tcp_ == nullptr) return start_error(fmt::format("cannot serve admin http {}", options_.tcp_addr));
  build_guard();
  TLOG_INFO("admin listening", "http={} port={}", options_.tcp_addr, tcp_port());
  return {};
}

Acceptor* AdminServer::serve(int listen_fd, bool is_tcp) {
  return Acceptor::open(
      loop_, listen_fd,
      [this, is_tcp](int fd, const sockaddr*, socklen_t) {
        on_connection(fd, is_tcp);
        return true;
      },
      [](int err) {
        if (err != 0) TLOG_WARN("admin accepting paused", "error={}", std::strerror(err));
      });
}

void AdminServer::on_connection(int fd, bool is_tcp) {
  AdminConnection::Settings settings;
  settings.actions = &actions_;
  settings.max_body = options_.max_body;
  settings.is_tcp = is_tcp;
  settings.chunks = chunks_;
  if (is_tcp) {
    settings.guard = guard_;
    // The address this client reached us on is ours too (a listener on 0.0.0.0 or [::]).
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
      settings.guard.allow_authority(format_address(reinterpret_cast<sockaddr*>(&local)));
    }
  }
  AdminConnection* conn =
      AdminConnection::open(loop_, fd, std::move(settings), [this](AdminConnection* c) { forget(c); });
  if (conn != nullptr) connections_.insert(conn);
}

void AdminServer::forget(AdminConnection* conn) { connections_.erase(conn); }

void AdminServer::build_guard() {
  int port = tcp_port();
  std::vector<std::string> authorities = RequestGuard::loopback_authorities(port);
  // The configured address with the bound port, unless it is a wildcard (no client names that).
  if (Result<SocketAddress> bound = local_address(tcp_->fd()); bound) {
    std::string host = format_address(bound->sa(), false);
    if (host != "0.0.0.0" && host != "::" && host != "[::]") authorities.push_back(bound->text);
  }
  guard_ = RequestGuard(std::move(authorities), options_.token, options_.open_reads);
}

Result<void> AdminServer::adopt(int unix_fd, int tcp_fd) {
  if (closed_) return start_error("admin server was closed");
  if (unix_fd >= 0) {
    unix_ = serve(unix_fd, false);
    if (unix_ == nullptr) {
      if (tcp_fd >= 0) ::close(tcp_fd);
      close();
      return start_error("cannot serve the inherited admin socket");
    }
    struct stat st {};
    if (!options_.socket_path.empty() && ::lstat(options_.socket_path.c_str(), &st) == 0) {
      socket_dev_ = st.st_dev;
      socket_ino_ = st.st_ino;
    }
    TLOG_INFO("admin listening", "socket={} inherited=true", log_quote(options_.socket_path));
  }
  if (tcp_fd >= 0) {
    if (options_.token.empty()) {
      ::close(tcp_fd);
      close();
      return start_error("admin http needs a token (admin.token or admin.token_file)");
    }
    tcp_ = serve(tcp_fd, true);
    if (tcp_ == nullptr) {
      close();
      return start_error("cannot serve the inherited admin http socket");
    }
    build_guard();
    TLOG_INFO("admin listening", "http={} port={} inherited=true", options_.tcp_addr, tcp_port());
  } else if (!options_.tcp_addr.empty()) {
    return start_tcp();
  }
  return {};
}

void AdminServer::stop_listening(bool keep_socket_file) {
  keep_socket_file_ = keep_socket_file || keep_socket_file_;
  bool had_unix = unix_ != nullptr && !keep_socket_file_;
  close_acceptor(unix_);
  close_acceptor(tcp_);
  if (had_unix && socket_ino_ != 0) {
    struct stat st {};
    // Only our own file: a successor may already have bound a new socket at this path.
    if (::lstat(options_.socket_path.c_str(), &st) == 0 && st.st_dev == socket_dev_ && st.st_ino == socket_ino_) {
      ::unlink(options_.socket_path.c_str());
    }
  }
  socket_ino_ = 0;
}

void AdminServer::pause_accepting() {
  if (unix_ != nullptr) unix_->pause();
  if (tcp_ != nullptr) tcp_->pause();
}

void AdminServer::resume_accepting() {
  if (unix_ != nullptr) unix_->resume();
  if (tcp_ != nullptr) tcp_->resume();
}

void AdminServer::close() {
  if (closed_) return;
  closed_ = true;
  stop_listening(keep_socket_file_);
  std::vector<AdminConnection*> open(connections_.begin(), connections_.end());
  connections_.clear();
  for (AdminConnection* c : open) c->close();
}

int AdminServer::unix_fd() const { return unix_ ? unix_->fd() : -1; }
int AdminServer::tcp_fd() const { return tcp_ ? tcp_->fd() : -1; }

int AdminServer::tcp_port() const {
  if (tcp_ == nullptr) return 0;
  Result<SocketAddress> addr = local_address(tcp_->fd());
  return addr ? addr->port() : 0;
}

}  // namespace turnout

// Integration-test harness implementation. See harness.h.
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace turnout::test {

namespace {

// Writes to a socket whose peer closed must fail with EPIPE, not kill the test binary.
struct IgnoreSigpipe {
  IgnoreSigpipe() { ::signal(SIGPIPE, SIG_IGN); }
} g_ignore_sigpipe;

int remaining_ms(Conn::Deadline deadline) {
  auto now = Clock::now();
  if (now >= deadline) return 0;
  auto ms = std::chrono::duration_cast<Ms>(deadline - now).count() + 1;
  return static_cast<int>(std::min<int64_t>(ms, 1000 * 3600));
}

// Waits for `events` on fd; false on deadline.
bool wait_fd(int fd, short events, Conn::Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

// Splits a head (start line + header lines) into its start line and headers. false when malformed.
bool parse_head(const std::string& head, std::string& start_line, Headers& headers) {
  size_t pos = 0;
  bool first = true;
  while (pos < head.size()) {
    size_t eol = head.find('\n', pos);
    if (eol == std::string::npos) eol = head.size();
    std::string_view line(head.data() + pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = eol + 1;
    if (first) {
      start_line = std::string(line);
      first = false;
      continue;
    }
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    headers.emplace_back(std::string(line.substr(0, colon)), trim(line.substr(colon + 1)));
  }
  return !first;
}

bool contains_token(std::string_view list, std::string_view token) {
  bool found = false;
  size_t i = 0;
  while (i <= list.size()) {
    size_t comma = list.find(',', i);
    if (comma == std::string_view::npos) comma = list.size();
    if (iequal(trim(list.substr(i, comma - i)), token)) found = true;
    i = comma + 1;
  }
  return found;
}

// Content-Length as a client/server must read it: digits only.
bool parse_length(std::string_view v, uint64_t* out) {
  if (v.empty() || v.size() > 19) return false;
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = n;
  return true;
}

bool last_coding_is_chunked(std::string_view te) {
  std::string last;
  size_t i = 0;
  while (i <= te.size()) {
    size_t comma = te.find(',', i);
    if (comma == std::string_view::npos) comma = te.size();
    std::string el = trim(te.substr(i, comma - i));
    if (!el.empty()) last = el;
    i = comma + 1;
  }
  return iequal(last, "chunked");
}

std::string hex(uint64_t n) {
  char b[32];
  std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(n));
  return b;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Small helpers

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::optional<std::string> find_header(const Headers& h, std::string_view name) {
  for (const auto& [n, v] : h)
    if (iequal(n, name)) return v;
  return std::nullopt;
}

size_t count_header(const Headers& h, std::string_view name) {
  size_t n = 0;
  for (const auto& kv : h)
    if (iequal(kv.first, name)) ++n;
  return n;
}

std::string joined_header(const Headers& h, std::string_view name) {
  std::string out;
  for (const auto& [n, v] : h) {
    if (!iequal(n, name)) continue;
    if (!out.empty()) out += ", ";
    out += v;
  }
  return out;
}

void Fnv64::update(std::string_view data) {
  uint64_t x = h;
  for (unsigned char c : data) {
    x ^= c;
    x *= 1099511628211ull;
  }
  h = x;
}

uint64_t fnv64(std::string_view data) {
  Fnv64 f;
  f.update(data);
  return f.h;
}

std::string random_bytes(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  uint64_t x = seed * 2654435761u + 88172645463325252ull;
  size_t i = 0;
  while (i < n) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    for (int k = 0; k < 8 && i < n; ++k, ++i) out[i] = static_cast<char>((x >> (8 * k)) & 0xff);
  }
  return out;
}

void fill_pattern(uint64_t offset, char* out, size_t n) {
  size_t i = 0;
  while (i < n && ((offset + i) & 7) != 0) {
    uint64_t o = offset + i;
    uint64_t word = o & ~uint64_t{7};
    out[i] = static_cast<char>((word >> (8 * (o & 7))) & 0xff);
    ++i;
  }
  while (i + 8 <= n) {
    uint64_t word = offset + i;  // aligned here; little-endian host (x86-64, aarch64)
    std::memcpy(out + i, &word, 8);
    i += 8;
  }
  while (i < n) {
    uint64_t o = offset + i;
    uint64_t word = o & ~uint64_t{7};
    out[i] = static_cast<char>((word >> (8 * (o & 7))) & 0xff);
    ++i;
  }
}

void PatternChecker::update(std::string_view data) {
  if (first_bad) {
    offset += data.size();
    return;
  }
  size_t i = 0;
  auto check_byte = [&](size_t k) {
    uint64_t o = offset + k;
    uint64_t word = o & ~uint64_t{7};
    if (static_cast<char>((word >> (8 * (o & 7))) & 0xff) != data[k]) {
      first_bad = o;
      return false;
    }
    return true;
  };
  while (i < data.size() && ((offset + i) & 7) != 0) {
    if (!check_byte(i)) break;
    ++i;
  }
  while (!first_bad && i + 8 <= data.size()) {
    uint64_t word;
    std::memcpy(&word, data.data() + i, 8);
    if (word != offset + i) {
      for (size_t k = i; k < i + 8; ++k)
        if (!check_byte(k)) break;
      break;
    }
    i += 8;
  }
  while (!first_bad && i < data.size()) {
    if (!check_byte(i)) break;
    ++i;
  }
  offset += data.size();
}

int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

bool wait_until(const std::function<bool()>& pred, Ms timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(Ms(10));
  }
}

std::string local_addr(int port) { return "127.0.0.1:" + std::to_string(port); }

std::string yaml_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += "\"" + items[i] + "\"";
  }
  return out + "]";
}

// ---------------------------------------------------------------------------------------------
// TempDir

TempDir::TempDir() {
  char tmpl[] = "/tmp/turnout-it-XXXXXX";
  char* p = ::mkdtemp(tmpl);
  REQUIRE(p != nullptr);
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void TempDir::write(std::string_view name, std::string_view content) const {
  std::ofstream f(file(name), std::ios::binary | std::ios::trunc);
  f.write(content.data(), static_cast<std::streamsize>(content.size()));
  REQUIRE(f.good());
}

std::string TempDir::read(std::string_view name) const { return read_file(file(name)); }

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------------------------------------
// Conn

Conn::Conn(int fd) : fd_(fd) {
  int flags = ::fcntl(fd_, F_GETFL, 0);
  ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
}

Conn::~Conn() { close(); }

Conn::Conn(Conn&& other) noexcept
    : fd_(other.fd_), buf_(std::move(other.buf_)), pos_(other.pos_), eof_(other.eof_) {
  other.fd_ = -1;
}

Conn& Conn::operator=(Conn&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    buf_ = std::move(other.buf_);
    pos_ = other.pos_;
    eof_ = other.eof_;
    other.fd_ = -1;
  }
  return *this;
}

void Conn::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Conn::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void Conn::reset() {
  if (fd_ < 0) return;
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close();
}

int Conn::local_port() const {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) return -1;
  return ntohs(a.sin_port);
}

bool Conn::send_all(std::string_view data, Deadline deadline) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_fd(fd_, POLLOUT, deadline)) return false;
      continue;
    }
    return false;
  }
  return true;
}

bool Conn::fill(Deadline deadline, size_t max) {
  if (fd_ < 0 || eof_) return false;
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (1u << 20)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  for (;;) {
    size_t old = buf_.size();
    buf_.resize(old + max);
    ssize_t n = ::recv(fd_, buf_.data() + old, max, 0);
    if (n > 0) {
      buf_.resize(old + static_cast<size_t>(n));
      return true;
    }
    buf_.resize(old);
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_fd(fd_, POLLIN, deadline)) return false;
      continue;
    }
    eof_ = true;  // ECONNRESET and friends: the peer is gone
    return false;
  }
}

void Conn::consume(size_t n) { pos_ += std::min(n, buf_.size() - pos_); }

std::string Conn::take_buffered() {
  std::string out(buffered());
  buf_.clear();
  pos_ = 0;
  return out;
}

bool Conn::read_line(std::string& line, Deadline deadline, size_t max) {
  size_t scanned = 0;
  for (;;) {
    std::string_view b = buffered();
    size_t nl = b.find('\n', scanned);
    if (nl != std::string_view::npos) {
      std::string_view l = b.substr(0, nl);
      if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
      line.assign(l);
      consume(nl + 1);
      return true;
    }
    scanned = b.size();
    if (b.size() > max) return false;
    if (!fill(deadline)) return false;
  }
}

bool Conn::read_head(std::string& head, Deadline deadline, size_t max) {
  size_t scanned = 0;
  for (;;) {
    std::string_view b = buffered();
    // The head ends at the first empty line: "\n\r\n" or "\n\n" (the start line itself is never empty).
    for (size_t i = scanned; i < b.size(); ++i) {
      if (b[i] != '\n' || i == 0) continue;
      size_t end = 0;
      if (b[i - 1] == '\n') end = i + 1;
      else if (b[i - 1] == '\r' && i >= 2 && b[i - 2] == '\n') end = i + 1;
      if (end) {
        head.assign(b.substr(0, end));
        consume(end);
        return true;
      }
    }
    scanned = b.size() > 2 ? b.size() - 2 : 0;
    if (b.size() > max) return false;
    if (!fill(deadline)) return false;
  }
}

bool Conn::read_exact(uint64_t n, const Sink& sink, Deadline deadline, size_t piece) {
  while (n > 0) {
    if (buffered().empty() && !fill(deadline, std::min<uint64_t>(piece, std::max<uint64_t>(n, 1)))) return false;
    std::string_view b = buffered();
    size_t take = static_cast<size_t>(std::min<uint64_t>({n, b.size(), piece}));
    sink(b.substr(0, take));
    consume(take);
    n -= take;
  }
  return true;
}

bool Conn::read_chunked(const Sink& sink, Deadline deadline, std::string* trailers, size_t piece) {
  std::string line;
  for (;;) {
    if (!read_line(line, deadline, 4096)) return false;
    size_t semi = line.find(';');
    std::string size_text = trim(line.substr(0, semi));
    if (size_text.empty() || size_text.size() > 15) return false;
    uint64_t size = 0;
    for (char c : size_text) {
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else return false;
      size = size * 16 + static_cast<uint64_t>(d);
    }
    if (size == 0) break;
    if (!read_exact(size, sink, deadline, piece)) return false;
    if (!read_line(line, deadline, 16) || !line.empty()) return false;
  }
  for (;;) {  // trailer section
    if (!read_line(line, deadline, 65536)) return false;
    if (line.empty()) return true;
    if (trailers) *trailers += line + "\r\n";
  }
}

bool Conn::read_until_close(const Sink& sink, Deadline deadline, size_t piece) {
  for (;;) {
    std::string_view b = buffered();
    if (!b.empty()) {
      size_t take = std::min(b.size(), piece);
      sink(b.substr(0, take));
      consume(take);
      continue;
    }
    if (!fill(deadline, piece)) return eof_;
  }
}

std::string Conn::read_some(Ms timeout) {
  if (buffered().empty() && !fill(Clock::now() + timeout)) return {};
  return take_buffered();
}

bool Conn::wait_closed(Ms timeout, std::string* extra) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (extra) *extra += take_buffered();
    else take_buffered();
    if (eof_) return true;
    if (!fill(deadline)) return eof_;
  }
}

// ---------------------------------------------------------------------------------------------
// Client side

BodyFraming response_framing(const Response& head, bool request_was_head, uint64_t* length) {
  if (request_was_head || (head.status >= 100 && head.status < 200) || head.status == 204 || head.status == 304)
    return BodyFraming::None;
  if (auto te = head.header("Transfer-Encoding"); te && last_coding_is_chunked(*te)) return BodyFraming::Chunked;
  if (auto cl = head.header("Content-Length")) {
    if (parse_length(*cl, length)) return BodyFraming::Length;
  }
  return BodyFraming::UntilClose;
}

namespace {
int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}
}  // namespace

Client::Client(int port) {
  int fd = connect_loopback(port);
  REQUIRE_MESSAGE(fd >= 0, "cannot connect to 127.0.0.1:" << port << ": " << std::strerror(errno));
  conn_ = Conn(fd);
}

std::optional<Client> Client::try_connect(int port) {
  int fd = connect_loopback(port);
  if (fd < 0) return std::nullopt;
  return Client(Conn(fd));
}

std::optional<Response> Client::read_head(Ms timeout) {
  std::string head;
  if (!conn_.read_head(head, Clock::now() + timeout)) return std::nullopt;
  Response r;
  r.raw_head = head;
  std::string start;
  if (!parse_head(head, start, r.headers)) return std::nullopt;
  // "HTTP/1.1 200 OK"
  size_t sp1 = start.find(' ');
  if (sp1 == std::string::npos) return std::nullopt;
  r.version = start.substr(0, sp1);
  size_t sp2 = start.find(' ', sp1 + 1);
  std::string code = start.substr(sp1 + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp1 - 1);
  if (code.size() != 3 || !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  r.status = std::stoi(code);
  if (sp2 != std::string::npos) r.reason = start.substr(sp2 + 1);
  return r;
}

bool Client::read_body(Response& head, bool request_was_head, const Conn::Sink& sink, Ms timeout, size_t piece) {
  auto deadline = Clock::now() + timeout;
  uint64_t length = 0;
  switch (response_framing(head, request_was_head, &length)) {
    case BodyFraming::None:
      return true;
    case BodyFraming::Length:
      return conn_.read_exact(length, sink, deadline, piece);
    case BodyFraming::Chunked:
      head.chunked = true;
      return conn_.read_chunked(sink, deadline, nullptr, piece);
    case BodyFraming::UntilClose:
      head.until_close = true;
      return conn_.read_until_close(sink, deadline, piece);
  }
  return false;
}

std::optional<Response> Client::read_response(Ms timeout, bool request_was_head) {
  auto deadline = Clock::now() + timeout;
  auto head = read_head(timeout);
  if (!head) return std::nullopt;
  auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
  if (left < Ms(1)) left = Ms(1);
  std::string body;
  if (!read_body(*head, request_was_head, [&](std::string_view d) { body.append(d); }, left)) return std::nullopt;
  head->body = std::move(body);
  return head;
}

bool Client::send_request(std::string_view method, std::string_view target, std::string_view host,
                          const Headers& extra, std::string_view body) {
  std::string req;
  req.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  req.append("Host: ").append(host).append("\r\n");
  bool has_framing = false;
  for (const auto& [n, v] : extra) {
    req.append(n).append(": ").append(v).append("\r\n");
    if (iequal(n, "Content-Length") || iequal(n, "Transfer-Encoding")) has_framing = true;
  }
  if (!body.empty() && !has_framing) req.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  req.append("\r\n");
  req.append(body);
  return send(req);
}

std::optional<Response> Client::get(std::string_view host, std::string_view target, const Headers& extra,
                                    Ms timeout) {
  if (!send_request("GET", target, host, extra)) return std::nullopt;
  return read_response(timeout);
}

std::optional<Response> http_get(int port, std::string_view host, std::string_view path, const Headers& extra,
                                 Ms timeout) {
  auto c = Client::try_connect(port);
  if (!c) return std::nullopt;
  return c->get(host, path, extra, timeout);
}

AdminReply admin_request(const std::string& socket_path, std::string_view method, std::string_view path,
                         std::string_view body, const Headers& extra) {
  AdminReply out;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", socket_path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return out;
  }
  Conn c(fd);
  std::string req;
  req.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: turnout\r\nConnection: close\r\n");
  for (const auto& [n, v] : extra) req.append(n).append(": ").append(v).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    req.append("Content-Type: application/json\r\nContent-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  req.append("\r\n").append(body);
  if (!c.send_all(req, Ms(10000))) return out;
  std::string head;
  auto deadline = Clock::now() + Ms(30000);
  if (!c.read_head(head, deadline)) return out;
  Response r;
  std::string start;
  if (!parse_head(head, start, r.headers)) return out;
  size_t sp1 = start.find(' ');
  if (sp1 == std::string::npos || start.size() < sp1 + 4) return out;
  r.status = std::atoi(start.c_str() + sp1 + 1);
  uint64_t length = 0;
  std::string b;
  auto sink = [&](std::string_view d) { b.append(d); };
  switch (response_framing(r, method == "HEAD", &length)) {
    case BodyFraming::None: break;
    case BodyFraming::Length: c.read_exact(length, sink, deadline); break;
    case BodyFraming::Chunked: c.read_chunked(sink, deadline); break;
    case BodyFraming::UntilClose: c.read_until_close(sink, deadline); break;
  }
  out.status = r.status;
  out.body = b;
  out.json = nlohmann::json::parse(b, nullptr, /*allow_exceptions=*/false);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Backend

std::string make_response(int status, std::string_view body, const Headers& headers, bool no_length) {
  const char* reason = "OK";
  switch (status) {
    case 101: reason = "Switching Protocols"; break;
    case 204: reason = "No Content"; break;
    case 304: reason = "Not Modified"; break;
    case 404: reason = "Not Found"; break;
    case 500: reason = "Internal Server Error"; break;
    default: break;
  }
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  bool framing = false;
  for (const auto& [n, v] : headers) {
    out += n + ": " + v + "\r\n";
    if (iequal(n, "Content-Length") || iequal(n, "Transfer-Encoding")) framing = true;
  }
  if (!framing && !no_length) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n";
  out.append(body);
  return out;
}

BackendBehavior behave(BackendMode mode, Ms delay) {
  BackendBehavior b;
  b.mode = mode;
  b.delay = delay;
  return b;
}

BackendBehavior huge_response(uint64_t bytes, bool chunked) {
  BackendBehavior b;
  b.mode = BackendMode::Huge;
  b.huge_bytes = bytes;
  b.huge_chunked = chunked;
  return b;
}

Backend::Backend(std::string name, Behavior behavior) : name_(std::move(name)), behavior_(std::move(behavior)) {
  start();
}

Backend::~Backend() { stop(); }

void Backend::set_behavior(Behavior b) {
  std::lock_guard lk(mu_);
  behavior_ = std::move(b);
}

Backend::Behavior Backend::behavior() const {
  std::lock_guard lk(mu_);
  return behavior_;
}

void Backend::start() {
  REQUIRE(listen_fd_ < 0);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port_));
  REQUIRE_MESSAGE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0,
                  "backend " << name_ << " cannot bind port " << port_ << ": " << std::strerror(errno));
  REQUIRE(::listen(fd, 512) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  listen_fd_ = fd;
  stopping_ = false;
  acceptor_ = std::thread([this, fd] { accept_loop(fd); });
}

void Backend::stop() {
  if (listen_fd_ < 0) return;
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes the blocked poll/accept
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
  listen_fd_ = -1;
  std::list<std::thread> threads;
  {
    std::lock_guard lk(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
}

void Backend::accept_loop(int listen_fd) {
  while (!stopping_) {
    pollfd p{listen_fd, POLLIN, 0};
    int r = ::poll(&p, 1, 100);
    if (r <= 0) continue;
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) break;
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lk(mu_);
    if (stopping_) {
      ::close(fd);
      break;
    }
    uint64_t id = ++connections_;
    open_fds_.insert(fd);
    threads_.emplace_back([this, fd, id] { serve(fd, id); });
  }
}

bool Backend::sleep_or_stop(Ms d) const {
  std::unique_lock lk(mu_);
  return !cv_.wait_for(lk, d, [this] { return stopping_.load(); });
}

void Backend::record(BackendRequest&& r) {
  {
    std::lock_guard lk(mu_);
    requests_.push_back(std::move(r));
  }
  cv_.notify_all();
}

std::vector<BackendRequest> Backend::requests() const {
  std::lock_guard lk(mu_);
  return requests_;
}

size_t Backend::request_count() const {
  std::lock_guard lk(mu_);
  return requests_.size();
}

uint64_t Backend::connection_count() const {
  std::lock_guard lk(mu_);
  return connections_;
}

size_t Backend::open_connections() const {
  std::lock_guard lk(mu_);
  return open_fds_.size();
}

void Backend::reset_records() {
  std::lock_guard lk(mu_);
  requests_.clear();
  connections_ = 0;
}

bool Backend::wait_requests(size_t n, Ms timeout) const {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, timeout, [&] { return requests_.size() >= n; });
}

namespace {

// Waits in slices so a stop() is noticed; false when the peer went away or the backend stopped.
bool backend_fill(Conn& c, const std::atomic<bool>& stopping, size_t max = 256 * 1024) {
  while (!stopping) {
    if (c.fill(Clock::now() + Ms(100), max)) return true;
    if (c.eof()) return false;
  }
  return false;
}

// Reads a head, giving up on stop or close.
bool backend_read_head(Conn& c, const std::atomic<bool>& stopping, std::string& head) {
  for (;;) {
    if (c.read_head(head, Clock::now(), 1 << 20)) return true;
    if (c.buffered().size() > (1 << 20)) return false;
    if (!backend_fill(c, stopping)) return false;
  }
}

}  // namespace

void Backend::serve(int fd, uint64_t conn_id) {
  Conn c(fd);
  uint64_t index = 0;
  bool keep = true;
  bool rst = false;  // end with RST (SO_LINGER 0), applied when the fd is closed under mu_ below
  while (keep && !stopping_) {
    std::string head;
    if (!backend_read_head(c, stopping_, head)) break;
    BackendRequest req;
    req.conn_id = conn_id;
    req.index_on_conn = index++;
    req.raw_head = head;
    std::string start;
    if (!parse_head(head, start, req.headers)) break;
    {
      size_t sp1 = start.find(' ');
      size_t sp2 = start.rfind(' ');
      if (sp1 == std::string::npos || sp2 == sp1) break;
      req.method = start.substr(0, sp1);
      req.target = start.substr(sp1 + 1, sp2 - sp1 - 1);
      req.version = start.substr(sp2 + 1);
    }
    Behavior b = behavior();

    bool http10 = req.version == "HTTP/1.0";
    auto conn_hdr = req.joined("Connection");
    keep = http10 ? contains_token(conn_hdr, "keep-alive") : !contains_token(conn_hdr, "close");

    // 100-continue before the body is read; or a final answer instead of it (expect_reply).
    if (auto ex = req.header("Expect"); ex && iequal(*ex, "100-continue")) {
      if (b.expect_reply) {
        req.body_complete = false;
        record(std::move(req));
        c.send_all(*b.expect_reply, Ms(5000));
        keep = false;
        break;
      }
      if (b.answer_continue && !c.send_all("HTTP/1.1 100 Continue\r\n\r\n", Ms(5000))) break;
    }

    // Body.
    Fnv64 hash;
    PatternChecker pattern;
    size_t record_limit = b.mode == Mode::Echo ? (size_t{1} << 31) : b.record_body_limit;
    auto body_start = Clock::now();
    auto sink = [&](std::string_view d) {
      hash.update(d);
      pattern.update(d);
      req.body_size += d.size();
      if (req.body.size() < record_limit) req.body.append(d.substr(0, std::min(d.size(), record_limit - req.body.size())));
    };
    // Slow reading: refill the socket buffer at most slow_read_bytes per tick while slow.
    auto slow_sink_piece = [&]() -> size_t {
      if (b.slow_read_bytes == 0 || Clock::now() - body_start >= b.slow_read_for) return 256 * 1024;
      sleep_or_stop(b.slow_read_tick);
      return b.slow_read_bytes;
    };
    bool body_ok = true;
    uint64_t length = 0;
    auto te = req.header("Transfer-Encoding");
    auto cl = req.header("Content-Length");
    auto read_n = [&](uint64_t n) {
      while (n > 0 && !stopping_) {
        if (c.buffered().empty()) {
          size_t piece = slow_sink_piece();
          if (!backend_fill(c, stopping_, std::min<uint64_t>(piece, n))) return false;
        }
        std::string_view bb = c.buffered();
        size_t take = static_cast<size_t>(std::min<uint64_t>(n, bb.size()));
        sink(bb.substr(0, take));
        c.consume(take);
        n -= take;
      }
      return n == 0;
    };
    if (te && last_coding_is_chunked(*te)) {
      req.chunked = true;
      // Chunked: decode line by line, refilling with the slow-read policy for data.
      std::string line;
      for (;;) {
        while (!c.read_line(line, Clock::now(), 4096)) {
          if (!backend_fill(c, stopping_)) { body_ok = false; break; }
        }
        if (!body_ok) break;
        uint64_t size = 0;
        std::string size_text = trim(line.substr(0, line.find(';')));
        bool bad = size_text.empty();
        for (char ch : size_text) {
          int d = (ch >= '0' && ch <= '9') ? ch - '0'
                  : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
                  : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10 : -1;
          if (d < 0) { bad = true; break; }
          size = size * 16 + static_cast<uint64_t>(d);
        }
        if (bad) { body_ok = false; break; }
        if (size == 0) {
          for (;;) {  // trailers
            while (!c.read_line(line, Clock::now(), 65536)) {
              if (!backend_fill(c, stopping_)) { body_ok = false; break; }
            }
            if (!body_ok || line.empty()) break;
            req.trailers += line + "\r\n";
          }
          break;
        }
        if (!read_n(size)) { body_ok = false; break; }
        while (!c.read_line(line, Clock::now(), 16)) {
          if (!backend_fill(c, stopping_)) { body_ok = false; break; }
        }
        if (!body_ok || !line.empty()) { body_ok = false; break; }
      }
    } else if (cl && parse_length(*cl, &length)) {
      body_ok = read_n(length);
    }
    req.body_complete = body_ok;
    req.body_hash = hash.h;
    req.body_pattern_ok = pattern.ok();

    BackendRequest copy_for_handler;
    const bool want_copy = b.mode == Mode::Custom || b.mode == Mode::Echo;
    if (want_copy) copy_for_handler = req;
    std::string echo_body = b.mode == Mode::Echo ? req.body : std::string();
    std::string seen_host = req.header("Host").value_or("");
    std::string seen_target = req.target;
    bool is_head = req.method == "HEAD";
    bool wants_upgrade = req.header("Upgrade").has_value() && contains_token(conn_hdr, "upgrade");
    record(std::move(req));
    if (!body_ok) break;

    if (b.delay.count() > 0 && !sleep_or_stop(b.delay)) break;

    switch (b.mode) {
      case Mode::Upgrade:
        if (wants_upgrade) {
          std::string resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "X-Backend: " + name_ + "\r\n\r\n" + b.upgrade_greeting;
          if (!c.send_all(resp, Ms(5000))) { keep = false; break; }
          // Echo until the peer closes.
          while (!stopping_) {
            if (c.buffered().empty() && !backend_fill(c, stopping_)) break;
            std::string data = c.take_buffered();
            if (!c.send_all(data, Ms(10000))) break;
          }
          keep = false;
          break;
        }
        [[fallthrough]];
      case Mode::Default: {
        std::string body = name_ + "\n";
        std::string resp = make_response(200, is_head ? std::string() : body,
                                         {{"Content-Type", "text/plain"},
                                          {"X-Backend", name_},
                                          {"X-Seen-Host", seen_host},
                                          {"X-Seen-Target", seen_target},
                                          {"Content-Length", std::to_string(body.size())}});
        if (!keep) resp.insert(resp.find("\r\n") + 2, "Connection: close\r\n");
        if (!c.send_all(resp, Ms(10000))) keep = false;
        break;
      }
      case Mode::Custom: {
        Reply r = b.handler ? b.handler(copy_for_handler) : Reply{make_response(200, name_ + "\n"), false, false};
        if (!c.send_all(r.raw, Ms(10000))) keep = false;
        if (r.reset) {
          rst = true;
          keep = false;
        } else if (r.close_after) {
          keep = false;
        }
        break;
      }
      case Mode::Echo: {
        std::string resp = make_response(200, echo_body, {{"X-Backend", name_}});
        if (!keep) resp.insert(resp.find("\r\n") + 2, "Connection: close\r\n");
        if (!c.send_all(resp, Ms(30000))) keep = false;
        break;
      }
      case Mode::Huge: {
        std::string head2 = "HTTP/1.1 200 OK\r\nX-Backend: " + name_ + "\r\n";
        head2 += b.huge_chunked ? std::string("Transfer-Encoding: chunked\r\n")
                                : "Content-Length: " + std::to_string(b.huge_bytes) + "\r\n";
        if (!keep) head2 += "Connection: close\r\n";
        head2 += "\r\n";
        if (!c.send_all(head2, Ms(10000))) { keep = false; break; }
        std::string block;
        uint64_t off = 0;
        const size_t kBlock = b.huge_chunked ? 64 * 1024 - 13 : 256 * 1024;  // odd chunk sizes on purpose
        bool ok = true;
        while (off < b.huge_bytes && !stopping_) {
          size_t n = static_cast<size_t>(std::min<uint64_t>(kBlock, b.huge_bytes - off));
          block.resize(n);
          fill_pattern(off, block.data(), n);
          if (b.huge_chunked) block = hex(n) + "\r\n" + block + "\r\n";
          // The reader may be slow (backpressure tests): allow a long time per block.
          if (!c.send_all(block, Ms(60000))) { ok = false; break; }
          off += n;
        }
        if (ok && b.huge_chunked && !c.send_all("0\r\n\r\n", Ms(10000))) ok = false;
        if (!ok) keep = false;
        break;
      }
      case Mode::CloseWithoutAnswer:
        keep = false;
        break;
      case Mode::ResetBeforeAnswer:
        rst = true;
        keep = false;
        break;
      case Mode::ResetMidResponse: {
        std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + std::string(65536, 'x');
        c.send_all(resp, Ms(5000));
        sleep_or_stop(Ms(50));
        rst = true;
        keep = false;
        break;
      }
      case Mode::GarbageStatus:
        c.send_all("HTX/9 garbage\r\nfoo bar\r\n\r\n", Ms(5000));
        keep = false;
        break;
      case Mode::Hang:
        // Never answer: wait for the peer to give up (close) or the backend to stop.
        while (!stopping_) {
          if (!backend_fill(c, stopping_)) break;
          c.take_buffered();
        }
        keep = false;
        break;
    }
  }
  std::lock_guard lk(mu_);
  open_fds_.erase(fd);
  if (rst) c.reset();
  c.close();  // under the lock: stop() never shuts down a reused fd number
}

// ---------------------------------------------------------------------------------------------
// TurnoutProcess

namespace {

bool has_top_level_key(const std::string& yaml, const std::string& key) {
  std::regex re("(^|\\n)" + key + "\\s*:");
  return std::regex_search(yaml, re);
}

// Ports from "msg=listening addr=127.0.0.1:PORT" (or msg="listening", [::1]:PORT) lines.
std::vector<int> parse_ports(const std::string& log) {
  std::vector<int> ports;
  std::istringstream in(log);
  std::string line;
  static const std::regex re(R"re(msg="?listening"?(\s|$).*?\baddr="?(\[[0-9a-fA-F:.]+\]|[0-9.]+):([0-9]+))re");
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_search(line, m, re)) continue;
    int p = std::stoi(m[3].str());
    if (std::find(ports.begin(), ports.end(), p) == ports.end()) ports.push_back(p);
  }
  return ports;
}

// A short timeouts.drain unless the test sets one, so that SIGTERM at the end of a test with
// client connections still open exits in seconds, not after the default 30 s.
std::string with_test_drain(const std::string& yaml) {
  static const std::regex flow(R"re((^|\n)timeouts\s*:\s*\{)re");
  std::smatch m;
  if (!has_top_level_key(yaml, "timeouts")) {
    return yaml + (yaml.empty() || yaml.back() == '\n' ? "" : "\n") + "timeouts: {drain: " + kTestDrain + "}\n";
  }
  if (yaml.find("drain") != std::string::npos || !std::regex_search(yaml, m, flow)) return yaml;
  std::string out = yaml;
  out.insert(static_cast<size_t>(m.position(0) + m.length(0)), std::string("drain: ") + kTestDrain + ", ");
  return out;
}

bool is_ready(const std::string& log) {
  static const std::regex re(R"re(msg="?ready"?(\s|$))re");
  return std::regex_search(log, re);
}

}  // namespace

TurnoutProcess::TurnoutProcess() = default;

TurnoutProcess::~TurnoutProcess() { stop(); }

void TurnoutProcess::expect_exit(int code, std::string why) {
  expected_exit_ = code;
  expected_why_ = std::move(why);
}

std::optional<int> TurnoutProcess::stop(Ms timeout) {
  if (pid_ <= 0 || checked_) return exit_;
  checked_ = true;
  bool hung = false;
  if (running()) {
    ::kill(pid_, SIGTERM);
    if (!wait_exit(timeout)) {
      hung = true;
      ::kill(pid_, SIGKILL);
      int st;
      if (::waitpid(pid_, &st, 0) == pid_) exit_ = 128 + SIGKILL;
    }
  }
  CHECK_MESSAGE(!hung, "turnout did not exit within " << timeout.count() << " ms of SIGTERM (SIGKILLed)\n"
                                                      << stderr_tail());
  if (!hung && expected_exit_ != kAnyExit) {
    CHECK_MESSAGE(exit_ == std::optional<int>(expected_exit_),
                  "turnout exited with " << exit_.value_or(-1) << ", expected " << expected_exit_
                                         << (expected_why_.empty() ? "" : " (" + expected_why_ + ")")
                                         << " (128+N: killed by signal N)\n" << stderr_tail());
  }
  // Under a sanitizer build a report may come too late to fail any request (LeakSanitizer runs
  // only at exit): whatever the test asserted, a report in turnout's stderr fails it.
  std::string err = stderr_text();
  for (const char* marker : {"ThreadSanitizer", "ERROR: AddressSanitizer", "LeakSanitizer", "runtime error:"}) {
    size_t at = err.find(marker);
    CHECK_MESSAGE(at == std::string::npos, "sanitizer report in turnout's stderr:\n"
                                               << err.substr(at == std::string::npos ? 0 : at, 4000));
  }
  return exit_;
}

std::string TurnoutProcess::stderr_tail(size_t max) const {
  std::string s = stderr_text();
  if (s.size() > max) s = "...\n" + s.substr(s.size() - max);
  return s;
}

void TurnoutProcess::start(const std::string& config_yaml, const std::vector<std::string>& extra_args) {
  if (!try_start(config_yaml, extra_args)) {
    FAIL("turnout did not start: " << start_error_ << "\n--- config ---\n"
                                   << read_file(config_path()) << "\n--- stderr ---\n" << stderr_tail());
  }
}

bool TurnoutProcess::try_start(const std::string& config_yaml, const std::vector<std::string>& extra_args) {
  REQUIRE(pid_ < 0);
  std::string yaml;
  if (!has_top_level_key(config_yaml, "listen")) yaml += "listen: [\"127.0.0.1:0\"]\n";
  if (!has_top_level_key(config_yaml, "workers")) yaml += "workers: 2\n";
  if (!has_top_level_key(config_yaml, "admin")) yaml += "admin: {socket: \"" + admin_socket() + "\"}\n";
  yaml += with_test_drain(config_yaml);
  dir_.write("turnout.yaml", yaml);

  // TURNOUT_TEST_BINARY overrides the binary this test was built beside (another build, a sanitizer build).
  const char* binary = std::getenv("TURNOUT_TEST_BINARY");
  std::vector<std::string> args = {binary && *binary ? binary : TURNOUT_BINARY, "run", "-c", config_path()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string out_path = dir_.file("stdout.log");
  std::string err_path = dir_.file("stderr.log");
  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(out_fd >= 0);
  REQUIRE(err_fd >= 0);
  pid_t parent = ::getpid();

  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    // The test process holds backend sockets: turnout must not inherit any of them.
    ::syscall(SYS_close_range, 3u, ~0u, 0u);
    ::chdir(dir_.path().c_str());
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  pid_ = pid;

  auto deadline = Clock::now() + Ms(10000);
  for (;;) {
    std::string log = stderr_text();
    if (is_ready(log)) {
      ports_ = parse_ports(log);
      if (ports_.empty()) {
        start_error_ = "ready, but no 'msg=listening addr=...' line with a port";
        return false;
      }
      return true;
    }
    if (!running()) {
      start_error_ = "turnout exited with " + std::to_string(exit_.value_or(-1)) + " before msg=ready";
      return false;
    }
    if (Clock::now() >= deadline) {
      start_error_ = "no msg=ready within 10 s";
      return false;
    }
    std::this_thread::sleep_for(Ms(20));
  }
}

int TurnoutProcess::port(size_t i) const {
  REQUIRE_MESSAGE(i < ports_.size(), "turnout logged " << ports_.size() << " listening ports");
  return ports_[i];
}

void TurnoutProcess::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

bool TurnoutProcess::running() {
  if (pid_ <= 0 || exit_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == 0) return true;
  if (r == pid_) exit_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  else exit_ = -1;
  return false;
}

std::optional<int> TurnoutProcess::wait_exit(Ms timeout) {
  auto deadline = Clock::now() + timeout;
  while (running()) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(Ms(10));
  }
  return exit_;
}

long TurnoutProcess::rss_kib() const {
  if (pid_ <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

int TurnoutProcess::fd_count() const {
  if (pid_ <= 0) return -1;
  std::string path = "/proc/" + std::to_string(pid_) + "/fd";
  DIR* d = ::opendir(path.c_str());
  if (!d) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

}  // namespace turnout::test

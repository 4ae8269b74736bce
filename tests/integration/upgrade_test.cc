// Binary upgrade (issue 6 item 4): `POST /v1/upgrade` / `turnout upgrade -s SOCKET` / SIGUSR2
// start the binary on disk with --takeover; the new process takes the listening sockets, the
// admin socket and the live table, the old one drains and exits 0. Twenty upgrades in a row under
// keep-alive load must lose no request and refuse no connection, keep a runtime change, keep the
// admin socket file in place and leave no old process behind. An upgrade whose new process
// cannot start answers an error and the old process carries on. Admin requests sent while an
// upgrade hands over are answered (by one process or the other).
//
// The old processes after the first are not the harness's children: each new process is spawned
// by the old one, which then exits. The test process makes itself a child subreaper, so those
// orphans are reparented to it and their exit status can be read with waitpid; every pid any
// turnout logged is SIGKILLed at the end of the test case whatever happened.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "integration/harness.h"
#include "integration/process_sweeper.h"
#include "integration/remap_util.h"

using namespace turnout::test;
using namespace turnout::test::remap;

namespace {

constexpr int kUpgrades = 20;
constexpr int kLoadThreads = 4;
const std::string kHost = "shop.test";

// GET /v1/status: {pid, version}; pid -1 when the admin socket did not answer.
struct StatusView {
  pid_t pid = -1;
  int64_t version = -1;
  int status = 0;
};
StatusView get_status(const std::string& sock) {
  StatusView v;
  AdminReply r = admin_request(sock, "GET", "/v1/status");
  v.status = r.status;
  if (r.status != 200 || !r.json.is_object()) return v;
  v.pid = static_cast<pid_t>(r.json.value("pid", int64_t{-1}));
  v.version = r.json.value("version", int64_t{-1});
  return v;
}

// ---------------------------------------------------------------------------------------------
// Keep-alive load

// What the load threads saw. Counters are atomics; the first failures are kept as text.
struct LoadStats {
  std::atomic<uint64_t> ok{0};          // 2xx responses
  std::atomic<uint64_t> failed{0};      // no complete response, or not 2xx
  std::atomic<uint64_t> refused{0};     // connect() failed
  std::atomic<uint64_t> connects{0};    // successful connects
  std::atomic<uint64_t> told_close{0};  // responses carrying Connection: close
  std::atomic<uint64_t> eof_idle{0};    // connections found closed after a complete response
  std::atomic<uint64_t> ended_closed{0};  // threads that stopped right after a close, before reconnecting
  std::mutex mu;                        // guards notes
  std::vector<std::string> notes;       // the first failures, described

  void note(Clock::time_point origin, const std::string& what) {
    std::lock_guard lk(mu);
    if (notes.size() < 20) notes.push_back("t=" + std::to_string(static_cast<int64_t>(ms_since(origin, Clock::now()))) +
                                           "ms " + what);
  }
  std::string text() {
    std::lock_guard lk(mu);
    std::string out;
    for (auto& n : notes) out += n + "\n";
    return out;
  }
};

// What a connection between two requests shows (a correct client checks before reusing it).
enum class IdleCheck { Open, Closed, Unsolicited };
IdleCheck check_idle(Conn& c) {
  pollfd p{c.fd(), POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return IdleCheck::Open;
  char b;
  ssize_t n = ::recv(c.fd(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return IdleCheck::Unsolicited;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return IdleCheck::Open;
  return IdleCheck::Closed;  // EOF, or reset
}

bool says_close(const Response& r) {
  std::string v = lower(r.joined("Connection"));
  return v.find("close") != std::string::npos;
}

// One load thread: a keep-alive connection sending GETs back to back until `stop`.
void load_loop(int port, int thread_id, const std::atomic<bool>& stop, LoadStats& s, Clock::time_point origin) {
  std::optional<Client> c;
  uint64_t n = 0;
  while (!stop.load()) {
    if (c) {
      IdleCheck idle = check_idle(c->conn());
      if (idle == IdleCheck::Unsolicited) {
        s.failed++;
        s.note(origin, "thread " + std::to_string(thread_id) + ": bytes arrived with no request outstanding");
      }
      if (idle != IdleCheck::Open) {
        s.eof_idle++;
        c.reset();
      }
    }
    if (!c) {
      c = Client::try_connect(port);
      if (!c) {
        s.refused++;
        s.note(origin, "thread " + std::to_string(thread_id) + ": connect refused: " + std::strerror(errno));
        std::this_thread::sleep_for(Ms(5));
        continue;
      }
      s.connects++;
    }
    std::string target = "/load/" + std::to_string(thread_id) + "/" + std::to_string(n++);
    if (!c->send_request("GET", target, kHost)) {
      s.failed++;
      s.note(origin, "thread " + std::to_string(thread_id) + ": send failed for " + target);
      c.reset();
      continue;
    }
    auto r = c->read_response(Ms(5000));
    if (!r) {
      s.failed++;
      s.note(origin, "thread " + std::to_string(thread_id) + ": no complete response for " + target +
                         (c->conn().eof() ? " (EOF/reset)" : " (timeout or garbage)"));
      c.reset();
      continue;
    }
    if (r->status < 200 || r->status > 299) {
      s.failed++;
      s.note(origin, "thread " + std::to_string(thread_id) + ": status " + std::to_string(r->status) + " for " +
                         target + ": " + r->body);
    } else {
      s.ok++;
    }
    if (says_close(*r) || r->until_close) {
      s.told_close++;
      c.reset();
    }
  }
  // A close on the last round trip has no reconnect after it; the connect check counts it.
  if (!c) s.ended_closed++;
}

// Runs kLoadThreads load threads for the lifetime of the object.
class Load {
 public:
  explicit Load(int port) : origin_(Clock::now()) {
    for (int i = 0; i < kLoadThreads; ++i)
      threads_.emplace_back([this, port, i] { load_loop(port, i, stop_, stats_, origin_); });
  }
  ~Load() { finish(); }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  void finish() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  LoadStats& stats() { return stats_; }

 private:
  Clock::time_point origin_;      // t=0 of the notes
  std::atomic<bool> stop_{false};  // set by finish()
  LoadStats stats_;               // shared by the threads
  std::vector<std::thread> threads_;
};

// Watches a path while the upgrades run: counts the polls that found no socket there.
class SocketFileWatch {
 public:
  explicit SocketFileWatch(std::string path) : path_(std::move(path)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        struct stat st {};
        polls_++;
        if (::lstat(path_.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) missing_++;
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
    });
  }
  ~SocketFileWatch() { finish(); }
  SocketFileWatch(const SocketFileWatch&) = delete;
  SocketFileWatch& operator=(const SocketFileWatch&) = delete;
  void finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t polls() const { return polls_; }
  uint64_t missing() const { return missing_; }

 private:
  std::string path_;                 // the admin socket file
  std::atomic<bool> stop_{false};    // set by finish()
  std::atomic<uint64_t> polls_{0};   // lstat calls
  std::atomic<uint64_t> missing_{0}; // lstat calls that found no socket
  std::thread thread_;
};

// Wall-clock time like turnout's log "ts=" (UTC, milliseconds), to line notes up with its log.
std::string utc_now() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03dZ", tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// One GET /v1/routes on a fresh admin connection, as `turnout ctl routes` would send it. Fills
// *answer with the JSON on a 200; otherwise returns why there was none ("" on success).
std::string admin_get_routes(const std::string& sock, json* answer) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "socket(): " + std::string(std::strerror(errno));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", sock.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::string why = "connect: " + std::string(std::strerror(errno));
    ::close(fd);
    return why;
  }
  Conn c(fd);
  if (!c.send_all("GET /v1/routes HTTP/1.1\r\nHost: turnout\r\nConnection: close\r\n\r\n", Ms(5000)))
    return "send failed";
  std::string head;
  if (!c.read_head(head, Clock::now() + Ms(5000)))
    return c.eof() ? "closed without an answer (" + std::to_string(c.buffered().size()) + " bytes of a head)"
                   : "no answer within 5 s";
  if (head.rfind("HTTP/1.1 200", 0) != 0) return "answered " + head.substr(0, head.find('\r'));
  std::string b;
  c.read_until_close([&](std::string_view d) { b.append(d); }, Clock::now() + Ms(5000));
  *answer = json::parse(b, nullptr, false);
  if (answer->is_discarded()) return "body is not JSON: " + b.substr(0, 200);
  return "";
}

// Reads GET /v1/routes over and over while the upgrades run: every answer must be a 200 that
// still shows the runtime change.
class RoutesWatch {
 public:
  RoutesWatch(std::string sock, Clock::time_point origin) : sock_(std::move(sock)), origin_(origin) {
    thread_ = std::thread([this] {
      while (!stop_) {
        json j;
        std::string why = admin_get_routes(sock_, &j);
        reads_++;
        if (!why.empty()) {
          unanswered_++;
          note(why);
        } else if (apps_of(j, kHost) != std::set<std::string>{"app1", "app2"}) {
          wrong_++;
          note("routes without the runtime change: " + j.dump());
        }
      }
    });
  }
  ~RoutesWatch() { finish(); }
  RoutesWatch(const RoutesWatch&) = delete;
  RoutesWatch& operator=(const RoutesWatch&) = delete;
  void finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t reads() const { return reads_; }
  uint64_t unanswered() const { return unanswered_; }
  uint64_t wrong() const { return wrong_; }
  std::string notes() {
    std::lock_guard lk(mu_);
    return notes_;
  }

 private:
  void note(const std::string& what) {
    std::lock_guard lk(mu_);
    notes_ += "t=" + std::to_string(static_cast<int64_t>(ms_since(origin_, Clock::now()))) + "ms (" + utc_now() +
              ") " + what + "\n";
  }

  std::string sock_;                    // the admin socket
  Clock::time_point origin_;            // t=0 of the notes
  std::mutex mu_;                       // guards notes_
  std::string notes_;                   // what each failed read saw
  std::atomic<bool> stop_{false};       // set by finish()
  std::atomic<uint64_t> reads_{0};      // GETs sent
  std::atomic<uint64_t> unanswered_{0}; // GETs without a 200 JSON answer
  std::atomic<uint64_t> wrong_{0};      // answers without app1+app2 on kHost
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// Config

std::string config_for(const TurnoutProcess& proc, const Backend& b1) {
  std::string apps = "  app1: {servers: [\"" + b1.addr() + "\"]}\n";
  std::string routes = "  " + kHost + ": [app1]\n";
  return full_config(proc.admin_socket(), apps, routes,
                     "state_file: \"" + proc.dir().file("turnout.state.json") + "\"\n");
}

// The runtime change: app2 (on b2) created and mapped beside app1. Returns the version it made.
int64_t map_second_app(const TurnoutProcess& proc, const Backend& b2) {
  AdminReply created = proc.admin("PUT", "/v1/apps/app2", body({{"servers", {b2.addr()}}}));
  REQUIRE_MESSAGE(created.status == 200, created.body);
  AdminReply mapped = proc.admin("PUT", "/v1/routes/" + kHost + "/app2", "");
  REQUIRE_MESSAGE(mapped.status == 200, mapped.body);
  REQUIRE(mapped.json.contains("version"));
  return mapped.json["version"].get<int64_t>();
}

// One upgrade by one of the ways an operator has (`current` is the serving pid); returns what
// went wrong, "" when the trigger was answered with success.
std::string trigger_upgrade(const TurnoutProcess& proc, int i, int64_t version, pid_t current) {
  switch (i % 5) {
    case 1: {
      CtlRun run = run_ctl(proc.admin_socket(), {"upgrade"});
      if (run.code != 0) return "turnout ctl upgrade exited " + std::to_string(run.code) + ": " + run.err + run.out;
      return "";
    }
    case 3: {
      // `turnout upgrade -s SOCKET`, the top-level verb.
      TempDir tmp;
      std::string cmd = turnout_binary() + " upgrade -s " + proc.admin_socket() + " >" + tmp.file("out") + " 2>&1";
      int st = std::system(cmd.c_str());
      int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      if (code != 0) return "turnout upgrade exited " + std::to_string(code) + ": " + tmp.read("out");
      return "";
    }
    case 4: {
      // SIGUSR2 has no answer: done when another pid answers the admin socket.
      if (::kill(current, SIGUSR2) != 0) return "kill(SIGUSR2): " + std::string(std::strerror(errno));
      StatusView now;
      bool moved = wait_until([&] {
        now = get_status(proc.admin_socket());
        return now.pid > 0 && now.pid != current;
      }, Ms(10000));
      if (!moved) return "SIGUSR2: /v1/status still shows pid " + std::to_string(now.pid) + " after 10 s";
      // Once the new process has answered, the old one never answers again: it stopped taking
      // admin connections when the hand-off began.
      for (int k = 0; k < 20; ++k) {
        StatusView again = get_status(proc.admin_socket());
        if (again.pid != now.pid)
          return "SIGUSR2: pid " + std::to_string(now.pid) + " answered, then pid " + std::to_string(again.pid);
      }
      return "";
    }
    default: {
      AdminReply r = proc.admin("POST", "/v1/upgrade", "");
      if (r.status != 200) return "POST /v1/upgrade answered " + std::to_string(r.status) + ": " + r.body;
      if (!r.json.contains("version") || r.json["version"].get<int64_t>() != version)
        return "POST /v1/upgrade answered " + r.body + ", expected version " + std::to_string(version);
      return "";
    }
  }
}

}  // namespace

TEST_CASE("twenty binary upgrades under keep-alive load lose nothing and keep the live table") {
  Backend b1("b1"), b2("b2");
  TurnoutProcess proc;
  ProcessSweeper sweeper(proc);
  proc.start(config_for(proc, b1));
  TURNOUT_INFO_STDERR(proc);
  int port = proc.port();
  const std::string sock = proc.admin_socket();

  // A runtime change: the live table now differs from the config file.
  int64_t version = map_second_app(proc, b2);
  REQUIRE(apps_of(get_routes(sock), kHost) == std::set<std::string>{"app1", "app2"});

  StatusView first = get_status(sock);
  REQUIRE(first.pid == proc.pid());
  REQUIRE(first.version == version);
  sweeper.add(first.pid);
  std::vector<pid_t> old_pids;
  pid_t current = first.pid;

  SocketFileWatch watch(sock);
  Load load(port);
  std::this_thread::sleep_for(Ms(200));  // the load is under way before the first upgrade
  uint64_t ok_before = load.stats().ok.load();
  CHECK(ok_before > 0);

  for (int i = 0; i < kUpgrades; ++i) {
    CAPTURE(i);
    std::string err = trigger_upgrade(proc, i, version, current);
    REQUIRE_MESSAGE(err.empty(), err);
    StatusView now = get_status(sock);
    REQUIRE(now.status == 200);
    sweeper.add(now.pid);
    REQUIRE_MESSAGE(now.pid != current, "the upgrade was answered but /v1/status still shows pid " << current);
    CHECK(now.version == version);
    old_pids.push_back(current);
    current = now.pid;
    std::this_thread::sleep_for(Ms(100 + (i * 37) % 200));
  }
  std::this_thread::sleep_for(Ms(200));  // the last process serves load too
  load.finish();
  watch.finish();

  LoadStats& s = load.stats();
  std::string summary = "load: ok=" + std::to_string(s.ok.load()) + " failed=" + std::to_string(s.failed.load()) +
                        " refused=" + std::to_string(s.refused.load()) + " connects=" +
                        std::to_string(s.connects.load()) + " told_close=" + std::to_string(s.told_close.load()) +
                        " eof_idle=" + std::to_string(s.eof_idle.load()) +
                        " ended_closed=" + std::to_string(s.ended_closed.load());
  std::printf("upgrade under load: %s\n", summary.c_str());
  INFO(summary << "\nfirst failures:\n" << s.text());
  CHECK(s.failed.load() == 0);
  CHECK(s.refused.load() == 0);
  CHECK(s.ok.load() > 500);
  // Every upgrade drained every load connection of the old process: each thread reconnected at
  // least once per upgrade, told so by Connection: close (or by a close between requests). A
  // thread told to close on its very last round trip stops before it reconnects.
  CHECK(s.connects.load() + s.ended_closed.load() >= static_cast<uint64_t>(kLoadThreads * (kUpgrades + 1)));
  CHECK(s.told_close.load() > 0);
  INFO("admin socket polls=" << watch.polls() << " missing=" << watch.missing());
  CHECK(watch.polls() > 100);
  CHECK(watch.missing() == 0);

  // Both apps still served, and the API still shows the runtime change at the same version.
  CHECK(b1.request_count() > 0);
  CHECK(b2.request_count() > 0);
  json routes = get_routes(sock);
  CHECK(apps_of(routes, kHost) == std::set<std::string>{"app1", "app2"});
  CHECK(routes.value("version", int64_t{-1}) == version);
  StatusView last = get_status(sock);
  CHECK(last.pid == current);
  CHECK(last.version == version);

  // Every old process has exited, with 0 when its status could be read.
  REQUIRE(old_pids.size() == static_cast<size_t>(kUpgrades));
  {
    std::optional<int> first_code = proc.wait_exit(Ms(5000));
    CHECK_MESSAGE(first_code == std::optional<int>(0), "the first process (pid " << old_pids[0] << ") did not exit 0");
  }
  int codes_read = 0;
  for (size_t k = 1; k < old_pids.size(); ++k) {
    PidEnd end = wait_pid_exit(old_pids[k], Ms(5000));
    CHECK_MESSAGE(end.exited, "old process " << old_pids[k] << " (upgrade " << k << ") still running");
    if (end.code) {
      ++codes_read;
      CHECK_MESSAGE(*end.code == 0, "old process " << old_pids[k] << " exited " << *end.code);
    }
  }
  // Each of them was reparented to this subreaper before it exited, so every status was read.
  CHECK(codes_read == kUpgrades - 1);
  CHECK(poll_pid(current).exited == false);

  // The state file followed: it still holds app2 (a restart from it would keep the change), in
  // its snapshot or in the journal lines it keeps for the history.
  CHECK((proc.dir().read("turnout.state.json") + proc.dir().read("turnout.state.json.journal")).find("app2") !=
        std::string::npos);

  // The last process stops on SIGTERM like the first would.
  REQUIRE(::kill(current, SIGTERM) == 0);
  PidEnd end = wait_pid_exit(current, Ms(5000));
  CHECK(end.exited);
  CHECK(end.code == std::optional<int>(0));
  // It removes its admin socket file on a normal stop.
  CHECK(wait_until([&] { struct stat st {}; return ::lstat(sock.c_str(), &st) != 0; }, Ms(2000)));
}

namespace {

// A test $NOTIFY_SOCKET: a unix datagram socket as systemd binds it, with SO_PASSCRED so each
// message carries the sender's pid.
class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    REQUIRE(path_.size() < sizeof(un.sun_path));
    std::memcpy(un.sun_path, path_.c_str(), path_.size());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&un), sizeof(un)) == 0);
    int on = 1;
    REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == 0);
  }
  ~NotifySocket() { ::close(fd_); }
  NotifySocket(const NotifySocket&) = delete;

  // Fills the socket's receive queue with one-byte datagrams from the test itself, so that the
  // next notify turnout sends blocks in sendto() until the test reads: a systemd that is slow to
  // read. Returns how many were queued.
  size_t fill() {
    int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(s >= 0);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, path_.c_str(), path_.size());
    size_t n = 0;
    while (::sendto(s, "x", 1, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&un), sizeof(un)) == 1) ++n;
    ::close(s);
    return n;
  }
  NotifySocket& operator=(const NotifySocket&) = delete;
  const std::string& path() const { return path_; }

  struct Message {
    pid_t sender = -1;  // from SCM_CREDENTIALS
    std::string text;   // "MAINPID=...\nREADY=1\n"
  };
  // The next message within `timeout` (0: only one already queued); nullopt when none.
  std::optional<Message> next(Ms timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    char data[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{data, sizeof(data)};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(fd_, &mh, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    Message m;
    m.text.assign(data, static_cast<size_t>(n));
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
        m.sender = cred.pid;
      }
    }
    return m;
  }

 private:
  std::string path_;  // bound in a TempDir
  int fd_ = -1;       // the datagram socket
};

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("systemd notify: READY=1 with MAINPID at start, and the new MAINPID before the old process exits on upgrade") {
  Backend b1("b1");
  TempDir nd;
  NotifySocket notify(nd.file("notify.sock"));
  TurnoutProcess proc;
  ProcessSweeper sweeper(proc);
  ::setenv("NOTIFY_SOCKET", notify.path().c_str(), 1);  // inherited by turnout, and by its successor
  bool started = proc.try_start(config_for(proc, b1));
  ::unsetenv("NOTIFY_SOCKET");
  TURNOUT_INFO_STDERR(proc);
  REQUIRE(started);
  const std::string sock = proc.admin_socket();

  // Start: one message from turnout itself, MAINPID=its pid and READY=1.
  auto first = notify.next(Ms(5000));
  REQUIRE(first);
  INFO("first notify message: " << first->text);
  CHECK(first->sender == proc.pid());
  CHECK(has_line(first->text, "MAINPID=" + std::to_string(proc.pid())));
  CHECK(has_line(first->text, "READY=1"));

  // Upgrade: the new process must tell systemd MAINPID=<new pid> before it lets the old one exit,
  // so systemd never sees its main pid exit while the service is up. With systemd slow to read
  // (the queue full), the new process's notify waits, and so must the old process's exit.
  size_t filler = notify.fill();
  REQUIRE(filler > 0);
  AdminReply up;
  std::thread upgrader([&] { up = proc.admin("POST", "/v1/upgrade", ""); });
  JoinGuard join_upgrader(upgrader);
  REQUIRE(wait_until([&] { return proc.stderr_text().find("upgrade: handing over") != std::string::npos; }, Ms(10000)));
  // The new process has the sockets; were it to let the old one go before its notify, the old one
  // would now drain (nothing in flight) and exit within this wait.
  std::this_thread::sleep_for(Ms(2000));
  CHECK_MESSAGE(proc.running(), "the old process exited while the new one's MAINPID= was still unsent");
  // systemd reads: the filler, then the new process's message.
  std::optional<NotifySocket::Message> second;
  for (size_t i = 0; i < filler + 10 && !second; ++i) {
    auto m = notify.next(Ms(10000));
    if (!m) break;
    if (m->sender != ::getpid()) second = m;
  }
  upgrader.join();
  REQUIRE_MESSAGE(up.status == 200, up.body);
  StatusView after = get_status(sock);
  sweeper.add(after.pid);
  REQUIRE(after.pid > 0);
  REQUIRE(after.pid != proc.pid());
  REQUIRE_MESSAGE(second, "no notify message from the new process");
  INFO("second notify message: " << second->text);
  CHECK(second->sender == after.pid);
  CHECK(has_line(second->text, "MAINPID=" + std::to_string(after.pid)));
  CHECK(has_line(second->text, "READY=1"));
  CHECK(proc.wait_exit(Ms(10000)) == std::optional<int>(0));
  // Nothing else: the old process did not claim the main pid back, nor say it stops.
  auto extra = notify.next(Ms(300));
  CHECK_MESSAGE(!extra, "unexpected notify message: " << (extra ? extra->text : ""));

  // The new process still serves, and stops cleanly on SIGTERM (it was reparented to us).
  auto r = http_get(proc.port(), kHost, "/after-upgrade");
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(::kill(after.pid, SIGTERM) == 0);
  PidEnd end = wait_pid_exit(after.pid, Ms(10000));
  CHECK(end.exited);
  CHECK(end.code == std::optional<int>(0));
}

TEST_CASE("an upgrade whose new process cannot start answers an error; the old process carries on") {
  Backend b1("b1"), b2("b2");
  TurnoutProcess proc;
  ProcessSweeper sweeper(proc);
  std::string good = config_for(proc, b1);
  proc.start(good);
  TURNOUT_INFO_STDERR(proc);
  int port = proc.port();
  const std::string sock = proc.admin_socket();
  int64_t version = map_second_app(proc, b2);

  // The new process reads the config file first: an invalid one makes it exit 1.
  proc.dir().write("turnout.yaml", "listen: [\"127.0.0.1:0\"\napps: {{{\n");
  {
    Load load(port);
    std::this_thread::sleep_for(Ms(100));
    AdminReply r = proc.admin("POST", "/v1/upgrade", "");
    std::this_thread::sleep_for(Ms(200));
    load.finish();
    CHECK(r.status >= 400);
    CHECK(r.status != 0);
    CHECK_MESSAGE(r.json.contains("error"), r.body);
    LoadStats& s = load.stats();
    INFO("load: ok=" << s.ok.load() << " failed=" << s.failed.load() << " refused=" << s.refused.load() << "\n"
                     << s.text());
    CHECK(s.failed.load() == 0);
    CHECK(s.refused.load() == 0);
    CHECK(s.ok.load() > 0);
  }
  // `turnout upgrade` reports the failure with a non-zero exit code too.
  CtlRun run = run_ctl(sock, {"upgrade"});
  CHECK(run.code != 0);

  StatusView st = get_status(sock);
  CHECK(st.pid == proc.pid());
  CHECK(st.version == version);
  CHECK(proc.running());
  auto r = http_get(port, kHost, "/after-failed-upgrade");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(apps_of(get_routes(sock), kHost) == std::set<std::string>{"app1", "app2"});
  // Changes are accepted again (the failed hand-off did not leave it "handing over").
  AdminReply changed = proc.admin("PUT", "/v1/routes/other.test/app1", "");
  CHECK_MESSAGE(changed.status == 200, changed.body);

  // With the config fixed, the next upgrade goes through.
  proc.dir().write("turnout.yaml", good);
  AdminReply up = proc.admin("POST", "/v1/upgrade", "");
  CHECK_MESSAGE(up.status == 200, up.body);
  StatusView after = get_status(sock);
  sweeper.add(after.pid);
  CHECK(after.pid != proc.pid());
  CHECK(after.version == version + 1);
  CHECK(proc.wait_exit(Ms(5000)) == std::optional<int>(0));
  auto r2 = http_get(port, kHost, "/after-upgrade");
  REQUIRE(r2);
  CHECK(r2->status == 200);
}

TEST_CASE("admin requests sent while upgrades hand over are all answered") {
  // `turnout ctl routes` run during `turnout upgrade` must get its table: the admin socket is
  // shared by the old and the new process for a moment, and whichever accepted a request must
  // answer it.
  Backend b1("b1"), b2("b2");
  TurnoutProcess proc;
  ProcessSweeper sweeper(proc);
  proc.start(config_for(proc, b1));
  TURNOUT_INFO_STDERR(proc);
  const std::string sock = proc.admin_socket();
  int64_t version = map_second_app(proc, b2);
  sweeper.add(proc.pid());

  auto origin = Clock::now();
  RoutesWatch reader1(sock, origin), reader2(sock, origin);
  pid_t current = proc.pid();
  for (int i = 0; i < kUpgrades; ++i) {
    CAPTURE(i);
    AdminReply r = proc.admin("POST", "/v1/upgrade", "");
    REQUIRE_MESSAGE(r.status == 200, r.body);
    StatusView now = get_status(sock);
    sweeper.add(now.pid);
    REQUIRE(now.pid != current);
    CHECK(now.version == version);
    current = now.pid;
    std::this_thread::sleep_for(Ms(100));
  }
  reader1.finish();
  reader2.finish();
  uint64_t reads = reader1.reads() + reader2.reads();
  uint64_t unanswered = reader1.unanswered() + reader2.unanswered();
  uint64_t wrong = reader1.wrong() + reader2.wrong();
  INFO("GET /v1/routes during the upgrades: reads=" << reads << " unanswered=" << unanswered << " wrong=" << wrong
                                                    << "\n" << reader1.notes() << reader2.notes());
  CHECK(reads > 200);
  CHECK(unanswered == 0);
  CHECK(wrong == 0);
}

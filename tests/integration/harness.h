// Integration-test harness: starts the real turnout binary on port 0 with a temp config, runs
// in-process HTTP/1.1 backends (blocking sockets, one thread per connection), and talks raw
// HTTP/1.1 to turnout and HTTP/JSON to its admin socket.
//
// Everything here is test-thread code except Backend, whose connection threads run the
// configured behaviour; a Backend's recorded requests are read under its mutex (copies).
// Assertions inside the harness use doctest (FAIL/REQUIRE), so call it from test cases only.
#pragma once

#include <doctest/doctest.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace turnout::test {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;
using Headers = std::vector<std::pair<std::string, std::string>>;  // in wire order, case kept

inline constexpr Ms kDefaultTimeout{5000};

// True in the ASan/UBSan or TSan builds (the harness is built with the same flags as turnout):
// memory bounds are then looser, since shadow memory and ASan's quarantine count in RSS.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizedBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitizedBuild = true;
#else
inline constexpr bool kSanitizedBuild = false;
#endif
#else
inline constexpr bool kSanitizedBuild = false;
#endif

// ---------------------------------------------------------------------------------------------
// Small helpers

bool iequal(std::string_view a, std::string_view b);
std::string lower(std::string_view s);
// First value of `name` (case-insensitive), nullopt when absent.
std::optional<std::string> find_header(const Headers& h, std::string_view name);
// Number of fields named `name`.
size_t count_header(const Headers& h, std::string_view name);
// All values of `name` joined with ", " (the list form), "" when absent.
std::string joined_header(const Headers& h, std::string_view name);

// FNV-1a 64 of a byte stream, incrementally.
struct Fnv64 {
  uint64_t h = 1469598103934665603ull;  // running hash
  void update(std::string_view data);
};
uint64_t fnv64(std::string_view data);

// Deterministic pseudo-random bytes (xorshift), for request bodies whose hash is compared.
std::string random_bytes(size_t n, uint64_t seed);

// The "offset pattern": every 8-byte-aligned word of the stream holds its own offset,
// little-endian. A dropped, duplicated or reordered piece shows up at its exact offset.
void fill_pattern(uint64_t offset, char* out, size_t n);
struct PatternChecker {
  uint64_t offset = 0;                 // bytes checked so far
  std::optional<uint64_t> first_bad;   // offset of the first wrong byte
  void update(std::string_view data);
  bool ok() const { return !first_bad; }
};

// A port nothing listens on (bound then closed; nothing else grabs it in practice).
int unused_port();

// Polls `pred` every 10 ms until it is true or `timeout` passes; returns its last value.
bool wait_until(const std::function<bool()>& pred, Ms timeout);

// "127.0.0.1:PORT"
std::string local_addr(int port);
// A YAML flow list of quoted strings: ["a", "b"].
std::string yaml_list(const std::vector<std::string>& items);

// ---------------------------------------------------------------------------------------------
// TempDir: mkdtemp under /tmp, removed recursively in the destructor.

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  void write(std::string_view name, std::string_view content) const;
  std::string read(std::string_view name) const;  // "" when missing

 private:
  std::string path_;  // absolute directory path
};

std::string read_file(const std::string& path);  // "" when missing

// ---------------------------------------------------------------------------------------------
// Conn: a non-blocking socket with a read buffer and deadline-bounded reads and writes. Used by
// the client helpers and by the backend threads. Owns the fd (closes it in the destructor).

class Conn {
 public:
  using Sink = std::function<void(std::string_view)>;
  using Deadline = Clock::time_point;

  Conn() = default;
  explicit Conn(int fd);  // takes ownership; sets O_NONBLOCK
  ~Conn();
  Conn(Conn&& other) noexcept;
  Conn& operator=(Conn&& other) noexcept;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void close();
  void shutdown_write();
  // Closes with RST (SO_LINGER 0).
  void reset();
  int local_port() const;

  // Writes everything; false on error or deadline.
  bool send_all(std::string_view data, Deadline deadline);
  bool send_all(std::string_view data, Ms timeout = kDefaultTimeout) {
    return send_all(data, Clock::now() + timeout);
  }

  // Reads at least one more byte into the buffer (at most `max`); false on EOF, error or deadline.
  bool fill(Deadline deadline, size_t max = 256 * 1024);
  // Buffered bytes not consumed yet.
  std::string_view buffered() const { return std::string_view(buf_).substr(pos_); }
  void consume(size_t n);
  // Takes everything buffered.
  std::string take_buffered();

  // Reads a CRLF- (or LF-) terminated line, without the terminator.
  bool read_line(std::string& line, Deadline deadline, size_t max = 1 << 20);
  // Reads through the first empty line; `head` gets everything including the final CRLFCRLF.
  bool read_head(std::string& head, Deadline deadline, size_t max = 1 << 20);
  // Reads exactly n bytes into sink in pieces of at most `piece`.
  bool read_exact(uint64_t n, const Sink& sink, Deadline deadline, size_t piece = 256 * 1024);
  // Decodes a chunked body into sink; trailer lines (raw) go to *trailers when given.
  bool read_chunked(const Sink& sink, Deadline deadline, std::string* trailers = nullptr,
                    size_t piece = 256 * 1024);
  // Reads until the peer closes.
  bool read_until_close(const Sink& sink, Deadline deadline, size_t piece = 256 * 1024);
  // Reads whatever arrives within the deadline (at least one byte), "" on EOF/timeout.
  std::string read_some(Ms timeout = kDefaultTimeout);
  // True when the peer closes (EOF or reset) before the deadline; buffered/extra bytes are dropped
  // into *extra when given.
  bool wait_closed(Ms timeout, std::string* extra = nullptr);
  bool eof() const { return eof_; }

 private:
  int fd_ = -1;
  std::string buf_;   // bytes read but not consumed, from pos_
  size_t pos_ = 0;    // consumed prefix of buf_
  bool eof_ = false;  // the peer closed (or reset) its side
};

// ---------------------------------------------------------------------------------------------
// Client side

struct Response {
  std::string version;  // "HTTP/1.1"
  int status = 0;
  std::string reason;
  Headers headers;
  std::string raw_head;  // status line through the final CRLFCRLF
  std::string body;      // decoded body (empty for HEAD/1xx/204/304)
  bool chunked = false;  // the body came chunked
  bool until_close = false;  // the body was delimited by the connection closing

  std::optional<std::string> header(std::string_view name) const { return find_header(headers, name); }
  size_t header_count(std::string_view name) const { return count_header(headers, name); }
  std::string joined(std::string_view name) const { return joined_header(headers, name); }
};

// How a response body is framed, as a client must decide it (RFC 9112 6.3).
enum class BodyFraming { None, Length, Chunked, UntilClose };
BodyFraming response_framing(const Response& head, bool request_was_head, uint64_t* length);

class Client {
 public:
  // Connects to 127.0.0.1:port; REQUIREs success.
  explicit Client(int port);
  static std::optional<Client> try_connect(int port);

  Conn& conn() { return conn_; }
  bool send(std::string_view bytes, Ms timeout = kDefaultTimeout) { return conn_.send_all(bytes, timeout); }

  // Reads one response head (may be 1xx); nullopt on timeout/EOF/garbage.
  std::optional<Response> read_head(Ms timeout = kDefaultTimeout);
  // Streams the body of `head` into sink; false when the body ended early or timed out.
  bool read_body(Response& head, bool request_was_head, const Conn::Sink& sink, Ms timeout = kDefaultTimeout,
                 size_t piece = 256 * 1024);
  // Head + body (into Response::body). request_was_head: no body follows.
  std::optional<Response> read_response(Ms timeout = kDefaultTimeout, bool request_was_head = false);
  // A request with the given parts; Host header first, extra headers after, body with Content-Length
  // when non-empty (or when force_length).
  bool send_request(std::string_view method, std::string_view target, std::string_view host,
                    const Headers& extra = {}, std::string_view body = {});
  // Sends a GET and reads its response.
  std::optional<Response> get(std::string_view host, std::string_view target, const Headers& extra = {},
                              Ms timeout = kDefaultTimeout);
  // True when turnout closes the connection within the timeout.
  bool wait_closed(Ms timeout = Ms(3000), std::string* extra = nullptr) { return conn_.wait_closed(timeout, extra); }
  int local_port() const { return conn_.local_port(); }

 private:
  explicit Client(Conn&& c) : conn_(std::move(c)) {}
  Conn conn_;  // the connection to turnout
};

// One GET on a fresh connection.
std::optional<Response> http_get(int port, std::string_view host, std::string_view path,
                                 const Headers& extra = {}, Ms timeout = kDefaultTimeout);

// Admin API over a unix socket.
struct AdminReply {
  int status = 0;          // 0 when the socket did not answer
  nlohmann::json json;     // discarded value when the body is not JSON
  std::string body;        // raw body
};
AdminReply admin_request(const std::string& socket_path, std::string_view method, std::string_view path,
                         std::string_view body = {}, const Headers& extra = {});

// ---------------------------------------------------------------------------------------------
// Backend: an HTTP/1.1 origin server on 127.0.0.1, thread per connection.

struct BackendRequest {
  uint64_t conn_id = 0;         // 1-based, in accept order: equal ids = same upstream connection
  uint64_t index_on_conn = 0;   // 0 for the first request of its connection
  std::string method;
  std::string target;
  std::string version;          // "HTTP/1.1"
  Headers headers;              // as received, in order
  std::string raw_head;         // request line through CRLFCRLF
  bool chunked = false;         // body arrived chunked
  uint64_t body_size = 0;       // decoded body bytes
  uint64_t body_hash = 0;       // fnv64 of the decoded body
  bool body_pattern_ok = true;  // the body matched the offset pattern (see fill_pattern)
  std::string body;             // the first Backend::Behavior::record_body_limit bytes
  bool body_complete = true;    // false: the body ended early (peer closed)
  std::string trailers;         // raw trailer lines of a chunked body

  std::optional<std::string> header(std::string_view name) const { return find_header(headers, name); }
  size_t header_count(std::string_view name) const { return count_header(headers, name); }
  std::string joined(std::string_view name) const { return joined_header(headers, name); }
};

// What a custom handler answers.
struct Reply {
  std::string raw;           // bytes written as the response (head + body), verbatim
  bool close_after = false;  // close the connection after writing (without saying so)
  bool reset = false;        // close with RST after writing `raw`
};
using Handler = std::function<Reply(const BackendRequest&)>;

// "HTTP/1.1 <status> <reason>\r\n" + headers + Content-Length (unless the headers carry a
// framing header or no_length) + body.
std::string make_response(int status, std::string_view body, const Headers& headers = {}, bool no_length = false);

enum class BackendMode {
  Default,            // 200, body "<name>\n", X-Backend, X-Seen-Host, X-Seen-Target
  Custom,             // Behavior::handler decides
  Echo,               // 200 with the request body (Content-Length)
  Huge,               // 200 with huge_bytes of the offset pattern (CL or chunked)
  CloseWithoutAnswer, // read the request, close
  ResetBeforeAnswer,  // read the request, RST
  ResetMidResponse,   // head with CL 1 MiB, 64 KiB of body, RST
  GarbageStatus,      // "HTX/9 garbage" status line, close
  Hang,               // read the request, never answer (until peer close or stop)
  Upgrade,            // if the request asks to upgrade: 101, greeting, then echo bytes; else Default
};
struct BackendBehavior {
  BackendMode mode = BackendMode::Default;
  Ms delay{0};                       // before answering
  Handler handler;                   // BackendMode::Custom
  uint64_t huge_bytes = 0;           // BackendMode::Huge
  bool huge_chunked = false;         // BackendMode::Huge: chunked instead of Content-Length
  bool answer_continue = true;       // send "100 Continue" on Expect: 100-continue before the body
  // Set: a request with Expect: 100-continue gets these bytes as its final answer (e.g. a 417)
  // instead of a 100, before any body is read; the request is recorded with no body and the
  // connection closed (its unread body makes it unusable).
  std::optional<std::string> expect_reply;
  size_t record_body_limit = 1 << 20;  // bytes of each body kept in BackendRequest::body
  // Slow reading of request bodies: at most slow_read_bytes per slow_read_tick during the first
  // slow_read_for of each body (0 = full speed).
  size_t slow_read_bytes = 0;
  Ms slow_read_tick{10};
  Ms slow_read_for{0};
  std::string upgrade_greeting = "hello from backend\n";  // BackendMode::Upgrade: sent with the 101 head
};

// Shorthands for the common behaviours.
BackendBehavior behave(BackendMode mode, Ms delay = Ms(0));
BackendBehavior huge_response(uint64_t bytes, bool chunked = false);

class Backend {
 public:
  using Mode = BackendMode;
  using Behavior = BackendBehavior;

  // Starts listening on 127.0.0.1:0 at once.
  explicit Backend(std::string name, Behavior behavior = {});
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  const std::string& name() const { return name_; }
  int port() const { return port_; }
  std::string addr() const { return local_addr(port_); }

  void set_behavior(Behavior b);
  Behavior behavior() const;

  // Closes the listener and every connection, joins all threads.
  void stop();
  // Listens again on the same port.
  void start();

  std::vector<BackendRequest> requests() const;
  size_t request_count() const;
  uint64_t connection_count() const;  // connections accepted since construction (or reset)
  size_t open_connections() const;     // connections currently open
  void reset_records();
  // Waits until at least n requests were recorded.
  bool wait_requests(size_t n, Ms timeout = kDefaultTimeout) const;

 private:
  void accept_loop(int listen_fd);
  void serve(int fd, uint64_t conn_id);
  bool sleep_or_stop(Ms d) const;  // false when stopped meanwhile
  void record(BackendRequest&& r);

  std::string name_;                  // answers say who they are
  int port_ = 0;                      // fixed after the first bind; reused by start()
  int listen_fd_ = -1;                // -1 when stopped
  std::atomic<bool> stopping_{false};  // set by stop(), read by every thread
  std::thread acceptor_;              // accept loop
  mutable std::mutex mu_;             // guards everything below
  mutable std::condition_variable cv_;  // signalled on record and on stop
  Behavior behavior_;                 // copied by each request when it is answered
  std::vector<BackendRequest> requests_;  // every request, in completion order
  uint64_t connections_ = 0;          // accepted connections
  std::set<int> open_fds_;            // connection fds, shut down by stop()
  std::list<std::thread> threads_;    // connection threads, joined by stop()
};

// ---------------------------------------------------------------------------------------------
// TurnoutProcess: the real binary, with its config in a temp dir.
//
// How a test's turnout ends, and what is checked (so a leak or a crash at shutdown fails the test
// that caused it): the destructor (or stop()) sends SIGTERM to a turnout still running and waits
// up to kStopTimeout for it to exit; if it does not, it is SIGKILLed and the test FAILs. The exit
// status must then be 0 — whether turnout exited in the destructor or earlier (a crash, or an
// exit the test caused) — and turnout's stderr must hold no sanitizer report (AddressSanitizer,
// LeakSanitizer, ThreadSanitizer, UBSan "runtime error:"). In the ASan build LeakSanitizer thus
// runs at the end of every integration test. A test that ends turnout another way on purpose
// (SIGKILL, a config turnout must refuse) says so first:
//
//   t.expect_exit(128 + SIGKILL, "simulates a crash");   // 128+N: killed by signal N
//   t.expect_exit(1, "turnout must refuse a public admin listener without a token");
//   t.expect_exit(kAnyExit, "...");                      // any status (still no sanitizer report)
//
// Test configs get `timeouts: {drain: 2s}` unless they set a drain (see try_start), so SIGTERM
// ends a test's turnout within about 2 s even with client connections still open.

inline constexpr int kAnyExit = -1;                 // expect_exit: any exit status is fine
inline constexpr Ms kStopTimeout{15000};            // SIGTERM -> exit, else SIGKILL and FAIL
inline constexpr const char* kTestDrain = "2s";     // timeouts.drain added to test configs

class TurnoutProcess {
 public:
  TurnoutProcess();
  ~TurnoutProcess();  // stop(), then the checks described above
  TurnoutProcess(const TurnoutProcess&) = delete;
  TurnoutProcess& operator=(const TurnoutProcess&) = delete;

  // Writes the config and starts `turnout run -c FILE extra_args...` (the binary is TURNOUT_BINARY,
  // or $TURNOUT_TEST_BINARY when set). Top-level keys the YAML
  // lacks get test defaults: listen ["127.0.0.1:0"], workers 2, admin socket in the temp dir.
  // Waits up to 10 s for msg=ready; FAILs with turnout's stderr if it dies or is not ready.
  void start(const std::string& config_yaml, const std::vector<std::string>& extra_args = {});
  // As start(), but returns false (instead of failing) when turnout exits or is not ready.
  bool try_start(const std::string& config_yaml, const std::vector<std::string>& extra_args = {});

  int port(size_t i = 0) const;
  const std::vector<int>& ports() const { return ports_; }
  std::string admin_socket() const { return dir_.file("admin.sock"); }
  const TempDir& dir() const { return dir_; }
  std::string config_path() const { return dir_.file("turnout.yaml"); }
  pid_t pid() const { return pid_; }

  std::string stderr_text() const { return read_file(dir_.file("stderr.log")); }
  std::string stderr_tail(size_t max = 6000) const;
  std::string stdout_text() const { return read_file(dir_.file("stdout.log")); }

  void signal(int sig) const;
  // Exit code, 128+signal when killed by one, nullopt on timeout.
  std::optional<int> wait_exit(Ms timeout);
  // Declares the exit status this test expects instead of 0 (kAnyExit: any), and why.
  void expect_exit(int code, std::string why);
  // SIGTERM if running, waits up to `timeout` (then SIGKILL and FAIL) and checks the exit status
  // and stderr as the destructor does. Returns the exit status (nullopt if it never started).
  // Idempotent: the destructor does not check again.
  std::optional<int> stop(Ms timeout = kStopTimeout);
  bool running();
  long rss_kib() const;  // VmRSS, -1 when unreadable
  int fd_count() const;  // entries of /proc/PID/fd, -1 when unreadable

  AdminReply admin(std::string_view method, std::string_view path, std::string_view body = {}) const {
    return admin_request(admin_socket(), method, path, body);
  }

 private:
  TempDir dir_;               // config, logs, admin socket
  pid_t pid_ = -1;            // -1 before start / after reaping
  std::optional<int> exit_;   // set when reaped
  std::vector<int> ports_;    // listening ports in log order (deduplicated)
  std::string start_error_;   // why try_start failed
  int expected_exit_ = 0;     // what stop() accepts (kAnyExit: anything)
  std::string expected_why_;  // the test's reason for a non-zero expected_exit_
  bool checked_ = false;      // stop() ran its checks
};

// Adds turnout's stderr tail to the context of every failing assertion in the current scope.
#define TURNOUT_INFO_STDERR(proc) INFO("turnout stderr (tail):\n" << (proc).stderr_tail())

}  // namespace turnout::test

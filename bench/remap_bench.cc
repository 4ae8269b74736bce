// remap_bench: measures how fast turnout's admin API applies route changes on a large table.
// A client of the admin API over its unix socket, on ONE keep-alive connection, blocking I/O.
//
//   remap_bench --socket PATH load  --from A --to B [--app a] [--batch 10000] [--suffix .r.test]
//       maps hosts h<A>..h<B-1><suffix> to the app with POST /v1/batch, --batch ops per request
//   remap_bench --socket PATH churn --routes N --changes M [--app a2] [--suffix .r.test] [--seed S]
//       applies M changes one by one: PUT /v1/routes/h<i><suffix>/<app> then DELETE of the same,
//       alternating, i random in [0, N); each waits for its answer (the API answers once every
//       worker runs the new table), so a change's latency is what an operator's script sees.
//       --dump FILE also writes each change's latency in µs, one per line, in order.
//
// Prints one line of key=value pairs for bench/bench.py, e.g.
//   churn routes=100000 changes=2000 ok=2000 errors=0 p50_us=80 p99_us=310 max_us=900 changes_per_s=9500
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// One keep-alive HTTP/1.1 connection to the admin socket.
class AdminClient {
 public:
  explicit AdminClient(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path.c_str());
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      std::fprintf(stderr, "remap_bench: cannot connect to %s: %s\n", path.c_str(), std::strerror(errno));
      std::exit(1);
    }
  }
  ~AdminClient() { if (fd_ >= 0) close(fd_); }
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  // Sends one request and reads its whole response; returns the status (0 on a broken
  // connection). `body_out` receives the response body.
  int call(const char* method, const std::string& path, const std::string& body, std::string* body_out = nullptr) {
    std::string req = std::string(method) + " " + path + " HTTP/1.1\r\nHost: turnout\r\n";
    if (!body.empty()) req += "Content-Type: application/json\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    req += body;
    for (size_t off = 0; off < req.size();) {
      ssize_t w = write(fd_, req.data() + off, req.size() - off);
      if (w <= 0) return 0;
      off += static_cast<size_t>(w);
    }
    // Read the head, then Content-Length bytes of body (the admin API always sends one).
    size_t head_end;
    while ((head_end = in_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return 0;
    int status = std::atoi(in_.c_str() + 9);
    size_t cl = 0;
    std::string head = in_.substr(0, head_end);
    for (char& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (size_t p = head.find("\r\ncontent-length:"); p != std::string::npos) cl = std::strtoul(head.c_str() + p + 17, nullptr, 10);
    while (in_.size() < head_end + 4 + cl)
      if (!fill()) return 0;
    if (body_out) *body_out = in_.substr(head_end + 4, cl);
    in_.erase(0, head_end + 4 + cl);
    return status;
  }

 private:
  bool fill() {
    char buf[65536];
    ssize_t r = read(fd_, buf, sizeof(buf));
    if (r <= 0) return false;
    in_.append(buf, static_cast<size_t>(r));
    return true;
  }

  int fd_ = -1;     // owned socket
  std::string in_;  // bytes read and not yet consumed
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int usage() {
  std::fprintf(stderr,
               "usage: remap_bench --socket PATH load --from A --to B [--app a] [--batch 10000] [--suffix .r.test]\n"
               "       remap_bench --socket PATH churn --routes N --changes M [--app a2] [--suffix .r.test] [--seed S]\n"
               "             [--dump FILE]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path, verb, app, suffix = ".r.test", dump;
  long from = 0, to = 0, batch = 10000, routes = 0, changes = 0;
  unsigned seed = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "load" || a == "churn") { verb = a; continue; }
    if (i + 1 >= argc) return usage();
    std::string v = argv[++i];
    if (a == "--socket") socket_path = v;
    else if (a == "--from") from = std::atol(v.c_str());
    else if (a == "--to") to = std::atol(v.c_str());
    else if (a == "--batch") batch = std::max(1L, std::atol(v.c_str()));
    else if (a == "--app") app = v;
    else if (a == "--suffix") suffix = v;
    else if (a == "--routes") routes = std::atol(v.c_str());
    else if (a == "--changes") changes = std::atol(v.c_str());
    else if (a == "--dump") dump = v;
    else if (a == "--seed") seed = static_cast<unsigned>(std::atol(v.c_str()));
    else return usage();
  }
  if (socket_path.empty() || verb.empty()) return usage();
  AdminClient admin(socket_path);

  if (verb == "load") {
    if (app.empty()) app = "a";
    long errors = 0, batches = 0;
    std::vector<double> batch_ms;
    auto t0 = Clock::now();
    for (long lo = from; lo < to; lo += batch) {
      long hi = std::min(to, lo + batch);
      std::string body = "[";
      body.reserve(static_cast<size_t>(hi - lo) * 56);
      for (long h = lo; h < hi; ++h) {
        if (h != lo) body += ',';
        body += "{\"op\":\"map\",\"app\":\"" + app + "\",\"host\":\"h" + std::to_string(h) + suffix + "\"}";
      }
      body += ']';
      auto tb = Clock::now();
      std::string answer;
      int status = admin.call("POST", "/v1/batch", body, &answer);
      batch_ms.push_back(seconds_since(tb) * 1e3);
      ++batches;
      if (status != 200) {
        ++errors;
        std::fprintf(stderr, "remap_bench: batch at %ld: status %d %s\n", lo, status, answer.c_str());
        if (status == 0) break;
      }
    }
    double secs = seconds_since(t0);
    std::printf("load from=%ld to=%ld batches=%ld errors=%ld seconds=%.3f routes_per_s=%.0f batch_p50_ms=%.1f batch_max_ms=%.1f\n",
                from, to, batches, errors, secs, static_cast<double>(to - from) / std::max(secs, 1e-9),
                percentile(batch_ms, 50), percentile(batch_ms, 100));
    return errors == 0 ? 0 : 1;
  }

  if (verb == "churn") {
    if (app.empty()) app = "a2";
    if (routes <= 0 || changes <= 0) return usage();
    std::mt19937 rng(seed);
    std::uniform_int_distribution<long> pick(0, routes - 1);
    std::vector<double> us;
    us.reserve(static_cast<size_t>(changes));
    long errors = 0;
    std::string host;
    auto t0 = Clock::now();
    for (long i = 0; i < changes; ++i) {
      bool put = i % 2 == 0;
      if (put) host = "h" + std::to_string(pick(rng)) + suffix;
      std::string path = "/v1/routes/" + host + "/" + app;
      auto tc = Clock::now();
      int status = admin.call(put ? "PUT" : "DELETE", path, "");
      us.push_back(seconds_since(tc) * 1e6);
      if (status != 200) {
        if (errors++ < 5) std::fprintf(stderr, "remap_bench: %s %s: status %d\n", put ? "PUT" : "DELETE", path.c_str(), status);
        if (status == 0) break;
      }
    }
    double secs = seconds_since(t0);
    long done = static_cast<long>(us.size());
    std::printf("churn routes=%ld changes=%ld ok=%ld errors=%ld p50_us=%.0f p99_us=%.0f max_us=%.0f changes_per_s=%.0f\n",
                routes, done, done - errors, errors, percentile(us, 50), percentile(us, 99), percentile(us, 100),
                static_cast<double>(done) / std::max(secs, 1e-9));
    if (!dump.empty()) {
      if (FILE* f = std::fopen(dump.c_str(), "w")) {
        for (double v : us) std::fprintf(f, "%.0f\n", v);
        std::fclose(f);
      }
    }
    return errors == 0 ? 0 : 1;
  }
  return usage();
}

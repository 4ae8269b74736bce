// The browser status page (issue 6 item 2): `GET /` on the admin TCP listener, loaded in a real
// headless Chromium (Debian's `chromium`), which runs the page's script against the live JSON
// API. The test asserts what the rendered DOM shows (table version, every route with its apps,
// every app with its servers and their health, request rates, the recent changes), that operator
// input is shown as text and never parsed as HTML, and that a screenshot renders.
//
// Chromium is required: without it the test fails and says how to install it
// (scripts/install-deps.sh). $TURNOUT_CHROMIUM overrides the binary; $TURNOUT_STATUS_SCREENSHOT,
// when set, receives a copy of the screenshot for a person to look at.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "integration/harness.h"

using namespace turnout::test;
using json = nlohmann::json;

namespace {

// Debian's chromium on PATH ($TURNOUT_CHROMIUM overrides); "" when there is none.
std::string find_chromium() {
  if (const char* c = std::getenv("TURNOUT_CHROMIUM"); c && *c) return ::access(c, X_OK) == 0 ? c : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/chromium";
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

// What one chromium run printed and how it ended.
struct BrowserRun {
  int code = -1;           // exit status; 128+signal when killed
  bool timed_out = false;  // killed by us at the deadline
  std::string out;         // stdout (the DOM for --dump-dom)
  std::string err;         // stderr, for failure messages
};

// Runs chromium headless on `url` with a fresh profile in `dir`; every process it starts is in
// its own process group, which is killed at the deadline and after it exits (stray helpers).
BrowserRun run_chromium(const std::string& chromium, const TempDir& dir, const std::string& tag,
                        const std::vector<std::string>& extra, const std::string& url, Ms timeout) {
  BrowserRun run;
  std::string profile = dir.file("profile-" + tag);
  ::mkdir(profile.c_str(), 0700);
  std::vector<std::string> args = {chromium,
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-quic",
                                   "--no-first-run",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--disable-dev-shm-usage",
                                   "--user-data-dir=" + profile,
                                   "--virtual-time-budget=5000"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(url);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string out_path = dir.file(tag + ".out"), err_path = dir.file(tag + ".err");
  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(out_fd >= 0);
  REQUIRE(err_fd >= 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::syscall(SYS_close_range, 3u, ~0u, 0u);
    ::chdir(dir.path().c_str());
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from here, so the group exists whichever side runs first
  ::close(out_fd);
  ::close(err_fd);
  auto deadline = Clock::now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (Clock::now() >= deadline) {
      run.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(Ms(20));
  }
  ::kill(-pid, SIGKILL);  // helpers (zygote, renderer) that outlived the browser
  run.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.out = read_file(out_path);
  run.err = read_file(err_path);
  if (run.err.size() > 4000) run.err = "...\n" + run.err.substr(run.err.size() - 4000);
  return run;
}

// The admin TCP port from `msg="admin listening" http=127.0.0.1:0 port=NNNNN`; 0 when absent.
int admin_http_port(const std::string& log) {
  static const std::regex re(R"re(msg="?admin listening"?.*\bhttp=\S+ port=([0-9]+))re");
  std::smatch m;
  return std::regex_search(log, m, re) ? std::stoi(m[1].str()) : 0;
}

// The text of `dom` from the first `start` (searched from `from`) to the next `end` after it,
// end included; "" when `start` is absent.
std::string slice(const std::string& dom, std::string_view start, std::string_view end, size_t from = 0) {
  size_t a = dom.find(start, from);
  if (a == std::string::npos) return "";
  size_t b = dom.find(end, a + start.size());
  return dom.substr(a, b == std::string::npos ? std::string::npos : b + end.size() - a);
}

bool contains(const std::string& hay, std::string_view needle) { return hay.find(needle) != std::string::npos; }

// The "req/s" cells of the server rows in `section`, as numbers (-1 for "—").
std::vector<double> rate_cells(const std::string& section) {
  static const std::regex re(R"re(<td class="num rate(?: idle)?">([^<]*)</td>)re");
  std::vector<double> out;
  for (auto it = std::sregex_iterator(section.begin(), section.end(), re); it != std::sregex_iterator(); ++it) {
    std::string v = (*it)[1].str();
    v.erase(std::remove(v.begin(), v.end(), ','), v.end());
    out.push_back(!v.empty() && (std::isdigit(static_cast<unsigned char>(v[0])) != 0) ? std::stod(v) : -1.0);
  }
  return out;
}

}  // namespace

TEST_CASE("GET / renders routes, servers, health, rates and recent changes in headless Chromium") {
  std::string chromium = find_chromium();
  if (chromium.empty()) {
    FAIL("chromium is not installed: this test loads the status page in a real headless browser. "
         "Install it with scripts/install-deps.sh (or `apt-get install -y chromium`), or point "
         "$TURNOUT_CHROMIUM at a Chromium binary.");
  }

  Backend blue1("blue-1"), blue2("blue-2"), green1("green-1");
  std::string dead = local_addr(unused_port());  // never answers: active checks mark it down

  TurnoutProcess proc;
  TURNOUT_INFO_STDERR(proc);
  proc.start("admin: {socket: \"" + proc.admin_socket() + "\", http: \"127.0.0.1:0\"}\n"
             "access_log: off\n"
             "apps:\n"
             "  blue: {servers: " + yaml_list({blue1.addr(), blue2.addr()}) + "}\n"
             "  green:\n"
             "    servers: " + yaml_list({green1.addr(), dead}) + "\n"
             "    health: {path: /health, interval: 100ms, timeout: 300ms, fall: 1, rise: 1}\n"
             "routes:\n"
             "  example.com: [blue]\n"
             "  www.example.com: [blue]\n"
             "  api.example.com: [green]\n"
             "  \"*.example.org\": [blue, {app: green, weight: 3}]\n");
  int admin_port = admin_http_port(proc.stderr_text());
  REQUIRE_MESSAGE(admin_port > 0, "no 'admin listening http=... port=N' line in turnout's stderr");
  // Reads on the TCP listener need the token turnout generated beside its admin socket; the
  // page takes it once from the URL fragment (which never reaches the server).
  std::string token = read_file(proc.dir().file("turnout.token"));
  while (!token.empty() && token.back() == '\n') token.pop_back();
  REQUIRE(!token.empty());
  const std::string bare_url = "http://127.0.0.1:" + std::to_string(admin_port) + "/";
  std::string url = bare_url + "#token=" + token;

  // The page itself: self-contained, served as UTF-8 HTML under a CSP that allows only this
  // origin and the page's inline script and style.
  // The listener answers only requests that name it in Host (DNS rebinding), port included.
  std::optional<Response> page = http_get(admin_port, "127.0.0.1:" + std::to_string(admin_port), "/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->header("Content-Type").value_or("") == "text/html; charset=utf-8");
  std::string csp = page->header("Content-Security-Policy").value_or("");
  CHECK(contains(csp, "default-src 'none'"));
  CHECK(contains(csp, "connect-src 'self'"));
  CHECK(contains(csp, "script-src 'unsafe-inline'"));
  CHECK(contains(csp, "style-src 'unsafe-inline'"));
  CHECK_FALSE(contains(page->body, "://"));        // no external resource of any kind
  CHECK_FALSE(contains(page->body, "innerHTML"));  // data goes in as text only

  // Traffic on every route, so the counters and response columns have something to show.
  for (const char* host : {"example.com", "www.example.com", "api.example.com", "shop.example.org"}) {
    Client cl(proc.port());
    for (int i = 0; i < 6; ++i) {
      std::optional<Response> r = cl.get(host, "/warmup");
      REQUIRE(r.has_value());
      CHECK(r->status == 200);
    }
  }

  // Changes through the admin API, so the history has them: a canary weight, then a server whose
  // address is markup (a unix socket path may hold any byte but NUL) that must show up as text.
  AdminReply mapped = proc.admin("PUT", "/v1/routes/www.example.com/green", R"({"weight": 2})");
  REQUIRE(mapped.status == 200);
  uint64_t map_version = mapped.json["version"].get<uint64_t>();
  const std::string hostile = "unix:/tmp/<img src=x id=inj onerror=alert(1)>.sock";
  AdminReply created = proc.admin("PUT", "/v1/apps/spare", json{{"servers", {green1.addr()}}}.dump());
  REQUIRE(created.status == 200);
  AdminReply added = proc.admin("POST", "/v1/apps/spare/servers", json{{"addr", hostile}}.dump());
  INFO("add-server answered " << added.body);
  REQUIRE(added.status == 200);

  // Wait for the active check to mark the dead server down, so the page has both states.
  auto server_up = [&](const json& apps, const std::string& app, const std::string& addr) -> std::optional<bool> {
    for (const json& s : apps["apps"][app]["servers"])
      if (s.value("addr", "") == addr) return s.value("up", true);
    return std::nullopt;
  };
  REQUIRE(wait_until([&] { return server_up(proc.admin("GET", "/v1/apps").json, "green", dead) == false; }, Ms(5000)));

  // Steady load on example.com while the browser watches, so the request rates have something to show.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent{0};
  std::thread load([&] {
    while (!stop) {
      std::optional<Client> cl = Client::try_connect(proc.port());
      if (!cl) {
        std::this_thread::sleep_for(Ms(10));
        continue;
      }
      while (!stop && cl->get("example.com", "/load", {}, Ms(2000))) ++sent;
    }
  });
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{stop, load};
  wait_until([&] { return sent > 50; }, Ms(3000));

  TempDir browser_dir;
  BrowserRun dom_run = run_chromium(chromium, browser_dir, "dom", {"--dump-dom"}, url, Ms(25000));
  INFO("chromium stderr (tail):\n" << dom_run.err);
  REQUIRE_FALSE(dom_run.timed_out);
  REQUIRE(dom_run.code == 0);
  const std::string& dom = dom_run.out;
  INFO("DOM:\n" << dom);
  REQUIRE(contains(dom, "</html>"));

  // The answers the page was rendered from (the table does not change from here on).
  json routes = proc.admin("GET", "/v1/routes").json;
  json apps = proc.admin("GET", "/v1/apps").json;
  uint64_t version = routes["version"].get<uint64_t>();
  REQUIRE(version == map_version + 2);

  // The page reached the API and rendered without error.
  CHECK(contains(dom, R"(id="live" data-state="ok")"));
  CHECK(contains(dom, R"(id="error" hidden="")"));
  CHECK(contains(dom, R"(id="token-form" hidden="")"));

  // Header: table version, and the requests counter moved.
  CHECK(contains(dom, "id=\"table-version\">v" + std::to_string(version) + "<"));
  std::string requests_card = slice(dom, "id=\"requests\">", "<");
  CHECK(requests_card != "id=\"requests\">0<");
  CHECK(requests_card != "id=\"requests\">\u2014<");

  // Routes: every host, each with every app it is mapped to (and only those).
  REQUIRE(routes["routes"].size() == 4);
  for (const auto& [host, mapped_apps] : routes["routes"].items()) {
    std::string row = slice(dom, "<tr class=\"route\" data-host=\"" + host + "\">", "</tr>");
    INFO("route " << host << ": " << row);
    REQUIRE_FALSE(row.empty());
    CHECK(contains(row, ">" + host + "<"));
    for (const auto& [app, weight] : mapped_apps.items()) {
      CHECK(contains(row, "data-app=\"" + app + "\""));
      CHECK(contains(row, ">" + app + "<"));
      CHECK(contains(row, ">w" + std::to_string(weight.get<int>()) + " \u00b7 "));
    }
    size_t chips = 0;
    for (size_t at = row.find("class=\"chip\""); at != std::string::npos; at = row.find("class=\"chip\"", at + 1)) ++chips;
    CHECK(chips == mapped_apps.size());
  }
  // The canary weight the change set: green is 2 of 3 on www.example.com.
  CHECK(contains(slice(dom, "data-host=\"www.example.com\"", "</tr>"), ">w2 \u00b7 67%<"));

  // Apps: both, with each server and the health the API reports; the dead one is down.
  for (const std::string app : {"blue", "green"}) {
    std::string section = slice(dom, "<tbody class=\"app\" data-app=\"" + app + "\">", "</tbody>");
    INFO("app " << app << ": " << section);
    REQUIRE_FALSE(section.empty());
    CHECK(contains(section, ">" + app + "<"));
    for (const json& s : apps["apps"][app]["servers"]) {
      std::string addr = s["addr"].get<std::string>();
      bool up = s["up"].get<bool>();
      std::string row = slice(section, "data-server=\"" + addr + "\"", "</tr>");
      INFO("server " << addr << ": " << row);
      REQUIRE_FALSE(row.empty());
      CHECK(contains(row, std::string("data-health=\"") + (up ? "up" : "down") + "\""));
      CHECK(contains(row, up ? R"(<span class="badge up">up</span>)" : R"(<span class="badge down">down</span>)"));
    }
  }
  CHECK(contains(slice(dom, "data-server=\"" + dead + "\"", "</tr>"), ">down<"));
  // Each app's health is the word /v1/apps (and so `ctl apps`) gives: green has one server down.
  for (const auto& [app, a] : apps["apps"].items()) {
    std::string section = slice(dom, "<tbody class=\"app\" data-app=\"" + app + "\">", "</tbody>");
    CHECK(contains(section, "data-health=\"" + a["health"].get<std::string>() + "\""));
  }
  CHECK(apps["apps"]["green"]["health"] == "degraded");
  CHECK(apps["apps"]["blue"]["health"] == "up");
  // ...with its live figures: blue is under load, so it has a rate and latency percentiles.
  std::string blue_live = slice(dom, "data-live=\"blue\"", "</td>");
  INFO("blue live: " << blue_live);
  CHECK(contains(blue_live, " req/s"));
  CHECK(contains(blue_live, " errors"));
  CHECK(std::regex_search(blue_live, std::regex(R"re(p50 <b>[0-9.]+ (ms|s)</b>)re")));
  // Error rate and no-route cards, and the live chart drawn by the page's script into its SVG.
  CHECK(contains(dom, "id=\"error-rate\">"));
  CHECK(contains(dom, "id=\"no-route\">"));
  std::string chart = slice(dom, "<svg id=\"chart\"", "</svg>");
  INFO("chart: " << chart);
  std::smatch pm;
  REQUIRE(std::regex_search(chart, pm, std::regex(R"re(data-points="([0-9]+)")re")));
  CHECK(std::stoi(pm[1].str()) >= 2);
  REQUIRE(std::regex_search(chart, pm, std::regex(R"re(id="chart-req" points="([^"]*)")re")));
  std::string req_points = pm[1].str();
  CHECK(std::count(req_points.begin(), req_points.end(), ',') >= 2);
  CHECK(contains(slice(dom, "data-server=\"" + green1.addr() + "\"", "</tr>"), ">up<"));

  // Live rates: the page refreshed at least twice and computed a rate for every server (from the
  // deltas of its "requests"), and the total under load is moving. (Per-server counters are
  // snapshotted from the workers every 250 ms of real time, while Chromium's virtual clock runs
  // the 2 s refreshes back to back, so a per-server rate of 0 here is legitimate.)
  std::vector<double> rates = rate_cells(slice(dom, "<table class=\"data\" id=\"apps-table\">", "</table>"));
  INFO("server req/s cells: " << rates.size());
  CHECK(rates.size() == 6);  // blue 2, green 2, spare 2
  for (double r : rates) CHECK(r >= 0);
  std::string total_rate = slice(dom, "id=\"requests-rate\">", "<");
  INFO("requests rate: " << total_rate);
  static const std::regex rate_re(R"re(>([0-9][0-9,.]*) req/s<)re");
  std::smatch rm;
  REQUIRE(std::regex_search(total_rate, rm, rate_re));
  std::string digits = rm[1].str();
  digits.erase(std::remove(digits.begin(), digits.end(), ','), digits.end());
  CHECK(std::stod(digits) > 0);

  // Recent changes: the map made through the API, at its version, newest first.
  std::string history = slice(dom, "<ol class=\"history\" id=\"history\">", "</ol>");
  INFO("history: " << history);
  std::string entry = slice(history, "data-version=\"" + std::to_string(map_version) + "\"", "</li>");
  CHECK(contains(entry, ">map green www.example.com weight 2<"));
  CHECK(contains(entry, ">v" + std::to_string(map_version) + "<"));
  CHECK(history.find("data-version=\"" + std::to_string(version) + "\"") <
        history.find("data-version=\"" + std::to_string(map_version) + "\""));

  // Operator input is text: the markup app name is shown escaped, never parsed into an element.
  CHECK(contains(dom, ">unix:/tmp/&lt;img src=x id=inj onerror=alert(1)&gt;.sock<"));
  CHECK(contains(history, ">add-server spare unix:/tmp/&lt;img src=x id=inj onerror=alert(1)&gt;.sock<"));
  CHECK_FALSE(contains(dom, "id=\"inj\""));
  CHECK_FALSE(contains(dom, "onerror=\"alert(1)\""));

  // A screenshot renders (a page of tables, not a blank one).
  std::string png = browser_dir.file("status.png");
  BrowserRun shot = run_chromium(chromium, browser_dir, "shot",
                                 {"--hide-scrollbars", "--screenshot=" + png, "--window-size=1280,900"}, url, Ms(25000));
  INFO("chromium stderr (tail):\n" << shot.err);
  REQUIRE_FALSE(shot.timed_out);
  CHECK(shot.code == 0);
  std::string image = read_file(png);
  CHECK(image.rfind("\x89PNG\r\n\x1a\n", 0) == 0);
  CHECK(image.size() > 30000);
  if (const char* keep = std::getenv("TURNOUT_STATUS_SCREENSHOT"); keep && *keep && !image.empty()) {
    std::error_code ec;
    std::filesystem::copy_file(png, keep, std::filesystem::copy_options::overwrite_existing, ec);
  }

  // Without the token the page shows no data and asks for it (a fresh profile: no session).
  TempDir bare_dir;
  BrowserRun bare = run_chromium(chromium, bare_dir, "bare", {"--dump-dom"}, bare_url, Ms(25000));
  INFO("chromium stderr (tail):\n" << bare.err);
  REQUIRE_FALSE(bare.timed_out);
  REQUIRE(bare.code == 0);
  INFO("DOM without a token:\n" << bare.out);
  CHECK(contains(bare.out, "<form class=\"error-box\" id=\"token-form\">"));
  CHECK(contains(bare.out, R"(id="live" data-state="error")"));
  CHECK(contains(bare.out, "a token is required"));
  CHECK_FALSE(contains(bare.out, "data-host=\"example.com\""));
}

#!/usr/bin/env python3
"""Fleet mode at 100k routes (issue #14 item 7): three turnout instances sharing one table through
one etcd, all on this machine, on 127.0.0.1 only, from a temp dir. bench/run.sh --scenarios m runs
this module; it also runs alone: `bench/fleet_bench.py --help`.

Setup: turnout-backends (bench/backend.cc) for apps blue (2 servers) and green (1 server); one
etcd started by hand (its own data dir, started and stopped by pid); a generated config with
routes h0..h<N-1>.example.com -> blue (100,000 by default), `workers: 1`, and
`table_source.etcd` with instance edge-1/2/3. edge-1 seeds the empty prefix from its file (one
etcd transaction), edge-2 and edge-3 start from the same file and find etcd's table.

  1  change latency: POST /v1/batch?wait=fleet on edge-1 (map, then unmap, of one host), answered
     once every live instance applied it; --changes of them (default 300) over --rounds,
     interleaved with the same number without wait=fleet (answered once edge-1 applied it).
     -> p50/p99 per round, medians. Targets: p99 < 50 ms, p50 < 10 ms.
  2  cold join: a 4th turnout (edge-4), fresh, no state file, its file holding one route; time
     from its process start until a request for h<N-1>.example.com through it is answered 200 by
     a backend (polled every 5 ms). Target: < 3 s.
  3  changes under load: wrk -t1 -c50 small keep-alive requests through edge-2 (pinned to CPU 0;
     wrk to CPU 1) for --duration seconds, with and without --load-changes (default 1,000) changes
     paced evenly over the run from edge-1 (wait=fleet), the two kinds of run interleaved over
     --load-rounds rounds, order alternating. edge-2's CPU per request (utime+stime from /proc over
     the run ÷ requests) with ÷ without. Target: at most 1.05. Also the CPU each change costs
     etcd, edge-1, edge-2 and edge-3 (their CPU over the run with changes less the quiet run's,
     scaled to the same wall time, ÷ changes).

Results: bench/results/fleet.md and fleet.json (--out DIR elsewhere).
"""
import argparse
import datetime
import http.client
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
import bench as B  # noqa: E402  (processes, /proc, wrk helpers)

FLIP_HOST = "flip.example.com"   # the one host the changes map and unmap
LOAD_HOST = "h4242.example.com"  # the host wrk requests in (3)
TARGET_P50_MS, TARGET_P99_MS, TARGET_JOIN_S, TARGET_CPU_RATIO = 10.0, 50.0, 3.0, 1.05


class Ports:
    """Free ports from the OS, or consecutive ones from --port-base (a range kept for this run)."""

    def __init__(self, base):
        self.next = base

    def take(self):
        if not self.next:
            return B.free_port()
        p = self.next
        self.next += 1
        return p


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Admin:
    """One keep-alive connection to an instance's admin socket."""

    def __init__(self, path):
        self.path = path
        self.conn = UnixHTTPConnection(path)

    def call(self, method, url, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (0, 1):
            try:
                self.conn.request(method, url, body=data, headers=headers)
                r = self.conn.getresponse()
                text = r.read().decode()
                return r.status, text
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = UnixHTTPConnection(self.path)
                if attempt:
                    raise

    def json(self, url):
        status, text = self.call("GET", url)
        return status, (json.loads(text) if text.startswith("{") else {})

    def close(self):
        self.conn.close()


# ?force=1: unmapping the host's only app is refused without it (the host would stop being served).
CHANGE_URL, FLEET_CHANGE_URL = "/v1/batch?force=1", "/v1/batch?wait=fleet&force=1"


def change_body(i):
    if i % 2 == 0:
        return [{"op": "map", "host": FLIP_HOST, "app": "green"}]
    return [{"op": "unmap", "host": FLIP_HOST, "app": "green"}]


def pct(values, p):
    v = sorted(values)
    if not v:
        return None
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def median(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def proc_cpu(pid):
    try:
        return B.tree_cpu(pid)
    except OSError:
        return 0.0


def wrk(port, secs, conns, host):
    """bench.wrk's run and parse, with wrk pinned to the load CPU (this process floats)."""
    cmd = ["taskset", "-c", str(B.LOAD_CPU), "wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--latency", "--timeout", "5s",
           "-H", f"Host: {host}", f"http://127.0.0.1:{port}/"]
    p = B.run(cmd, timeout=secs + 60)
    r = B.parse_wrk(p.stdout)
    r["raw"] = p.stdout + p.stderr
    return r


def uptime():
    return B.run(["uptime"]).stdout.strip()


class Fleet:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="turnout-fleet.")
        self.ports = Ports(args.port_base)
        self.backends = {}
        self.inst = {}  # name -> {"proc", "port", "sock", "conf"}
        self.etcd = None
        self.results = {"changes": [], "join": [], "load": [], "incidents": [], "startup": {}}

    def turnout(self):
        return os.path.join(self.args.build, "turnout")

    # ---- processes
    def start_backends(self):
        for name, app in (("blue1", "blue"), ("blue2", "blue"), ("green1", "green")):
            port = self.ports.take()
            p = B.PROCS.spawn([os.path.join(self.args.build, "bench", "turnout-backend"), "--listen",
                               f"127.0.0.1:{port}", "--name", name, "--size", "128", "--threads", "1"],
                              log_path=os.path.join(self.tmp, f"backend-{name}.log"))
            if not B.wait_port(port):
                sys.exit(f"backend {name} did not start")
            self.backends.setdefault(app, []).append((p, port))

    def start_etcd(self):
        client, peer = self.ports.take(), self.ports.take()
        self.etcd_url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        # etcd's own limits: a table over --max-txn-ops (128) is seeded in parts
        # (fleet_table_source.cc), and a change is a few keys.
        cmd = ["etcd", "--name", "default", "--data-dir", os.path.join(self.tmp, "etcd"),
               "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
               "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
               "--initial-cluster", f"default={peer_url}", "--log-level", "warn"]
        self.etcd = B.PROCS.spawn(cmd, log_path=os.path.join(self.tmp, "etcd.log"))
        end = time.time() + 30
        while time.time() < end:
            try:
                with urllib.request.urlopen(self.etcd_url + "/health", timeout=1) as r:
                    if b"true" in r.read():
                        return
            except OSError:
                time.sleep(0.1)
        sys.exit(f"etcd did not become healthy; see {self.tmp}/etcd.log")

    def conf(self, name, routes):
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        port = self.ports.take()
        sock = os.path.join(d, "admin.sock")
        servers = {app: ", ".join(f"'127.0.0.1:{p}'" for _, p in lst) for app, lst in self.backends.items()}
        lines = [
            "# generated by bench/fleet_bench.py",
            f'listen: ["127.0.0.1:{port}"]',
            "workers: 1",
            f"admin: {{ socket: {sock} }}",
            "access_log: off",
            "log_level: info",
            "table_source:",
            f'  etcd: {{ endpoints: ["{self.etcd_url}"], prefix: /turnout/, instance: {name} }}',
            "apps:",
            f"  blue: {{ servers: [{servers['blue']}] }}",
            f"  green: {{ servers: [{servers['green']}] }}",
            "routes:",
        ]
        if routes == 1:
            lines.append("  tiny.example.com: [blue]")
        else:
            lines += [f"  h{i}.example.com: [blue]" for i in range(routes)]
        lines.append("timeouts: { connect: 2s, request_header: 10s, upstream_response: 60s, client_idle: 60s, "
                     "upstream_idle: 30s, drain: 5s }")
        path = os.path.join(d, "turnout.yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return {"port": port, "sock": sock, "conf": path, "dir": d}

    def start_instance(self, name, routes, cpu=None):
        info = self.conf(name, routes)
        t0 = time.monotonic()
        info["proc"] = B.PROCS.spawn([self.turnout(), "run", "-c", info["conf"]], cpu=cpu,
                                     log_path=os.path.join(info["dir"], "turnout.log"))
        info["t0"] = t0
        self.inst[name] = info
        return info

    def wait_serving(self, name, host, timeout=120.0):
        """Seconds from the instance's start until `host` through it is answered 200."""
        info = self.inst[name]
        end = info["t0"] + timeout
        first_listen = None
        while time.monotonic() < end:
            if info["proc"].poll() is not None:
                sys.exit(f"{name} exited; see {info['dir']}/turnout.log")
            try:
                data = B.http_get(info["port"], host)
                if first_listen is None:
                    first_listen = time.monotonic() - info["t0"]
                if data.startswith(b"HTTP/1.1 200"):
                    return time.monotonic() - info["t0"], first_listen
            except OSError:
                pass
            time.sleep(0.005)
        return None, first_listen

    def admin(self, name):
        return Admin(self.inst[name]["sock"])

    def wait_fleet(self, names, timeout=120.0):
        """Until every instance in `names` has applied the same version (GET /v1/fleet on edge-1)."""
        a = self.admin("edge-1")
        end = time.time() + timeout
        try:
            while time.time() < end:
                try:
                    st, f = a.json("/v1/fleet")
                except OSError:
                    st, f = 0, {}
                inst = f.get("instances", {})
                if st == 200 and all(n in inst and inst[n].get("version") == f.get("version") for n in names):
                    return f
                time.sleep(0.1)
        finally:
            a.close()
        sys.exit(f"fleet did not converge: {names}")

    def stop_instance(self, name):
        info = self.inst.pop(name)
        B.PROCS.stop(info["proc"])

    # ---- (1) change latency
    def change_round(self, rnd):
        a = self.admin("edge-1")
        n = self.args.changes // self.args.rounds
        try:
            for mode in (("fleet", "local") if rnd % 2 else ("local", "fleet")):
                url = FLEET_CHANGE_URL if mode == "fleet" else CHANGE_URL
                lat, bad = [], 0
                for i in range(n):
                    t = time.perf_counter()
                    st, text = a.call("POST", url, change_body(i))
                    lat.append((time.perf_counter() - t) * 1e3)
                    if st != 200:
                        bad += 1
                        if bad <= 3:
                            self.results["incidents"].append(f"(1) {mode} change {i}: {st} {text[:200]}")
                r = {"round": rnd, "mode": mode, "n": n, "failed": bad, "p50_ms": pct(lat, 50),
                     "p99_ms": pct(lat, 99), "max_ms": max(lat), "latencies_ms": lat}
                self.results["changes"].append(r)
                B.log(f"  (1) round {rnd} {mode:5}: {n} changes p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms "
                      f"max {r['max_ms']:.2f} ms failed {bad}  (load {os.getloadavg()[0]:.1f})")
        finally:
            a.close()

    # ---- (2) cold join
    def join_round(self, rnd):
        name = "edge-4"
        etcd0 = proc_cpu(self.etcd.pid)
        self.start_instance(name, 1)
        serve_s, listen_s = self.wait_serving(name, f"h{self.args.routes - 1}.example.com", timeout=60)
        r = {"round": rnd, "serve_s": serve_s, "listen_s": listen_s, "loadavg": os.getloadavg()[0],
             "etcd_cpu_s": proc_cpu(self.etcd.pid) - etcd0, "cpu_s": proc_cpu(self.inst[name]["proc"].pid)}
        self.results["join"].append(r)
        B.log(f"  (2) round {rnd}: listening after {B.fmt_num(listen_s, 3)} s, h{self.args.routes - 1} answered 200 "
              f"after {B.fmt_num(serve_s, 3)} s; CPU s: edge-4 {r['cpu_s']:.2f}, etcd {r['etcd_cpu_s']:.2f}  "
              f"(load {r['loadavg']:.1f})")
        self.stop_instance(name)
        # Out of the fleet again before the next change waits for every live instance.
        a = self.admin("edge-1")
        end = time.time() + 15
        while time.time() < end and name in a.json("/v1/fleet")[1].get("instances", {}):
            time.sleep(0.1)
        a.close()

    # ---- (3) changes under load
    def load_run(self, rnd, with_changes):
        a = self.admin("edge-1")
        secs = self.args.duration
        pids = {"edge-2": self.inst["edge-2"]["proc"].pid, "edge-1": self.inst["edge-1"]["proc"].pid,
                "edge-3": self.inst["edge-3"]["proc"].pid, "etcd": self.etcd.pid}
        done = {"n": 0, "failed": 0, "lat": []}
        stop = threading.Event()

        def changer():
            pace = secs / self.args.load_changes
            t0 = time.monotonic() + 0.2  # after wrk's connections are up
            for i in range(self.args.load_changes):
                wait = t0 + i * pace - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if stop.is_set():
                    break
                t = time.perf_counter()
                st, _ = a.call("POST", FLEET_CHANGE_URL, change_body(i))
                done["lat"].append((time.perf_counter() - t) * 1e3)
                done["n" if st == 200 else "failed"] += 1

        cpu0 = {k: proc_cpu(p) for k, p in pids.items()}
        t0 = time.monotonic()
        th = threading.Thread(target=changer) if with_changes else None
        if th:
            th.start()
        w = wrk(self.inst["edge-2"]["port"], secs, 50, LOAD_HOST)
        wall = time.monotonic() - t0
        cpu = {k: proc_cpu(p) - cpu0[k] for k, p in pids.items()}
        if th:
            stop.set()
            th.join()
        a.close()
        n = w["requests"]
        r = {"round": rnd, "changes": with_changes, "requests": n, "rps": w["rps"], "p99_ms": w["p99_ms"],
             "errors": w["errors"], "wall_s": wall, "cpu_s": cpu, "applied": done["n"], "failed": done["failed"],
             "change_p50_ms": pct(done["lat"], 50), "change_p99_ms": pct(done["lat"], 99),
             "cpu_us_per_req": cpu["edge-2"] * 1e6 / n if n else None, "loadavg": os.getloadavg()[0]}
        if not n:
            self.results["incidents"].append(f"(3) round {rnd}: wrk measured nothing: {w['raw'][-400:]}")
        self.results["load"].append(r)
        B.log(f"  (3) round {rnd} {'changes' if with_changes else 'quiet  '}: {r['rps']:8.0f}/s edge-2 "
              f"{B.fmt_num(r['cpu_us_per_req'], 2)} us/req, changes applied {done['n']} failed {done['failed']} "
              f"(p50 {B.fmt_num(r['change_p50_ms'], 1)} ms), cpu s: "
              + " ".join(f"{k} {v:.2f}" for k, v in cpu.items()) + f"  errors {w['errors']} (load {r['loadavg']:.1f})")

    def gateway_read(self):
        """One range read of the whole prefix through etcd's JSON gateway, as an instance's first
        read does: (seconds, bytes, etcd CPU s) -- what a join waits for before turnout decodes."""
        import base64
        body = json.dumps({"key": base64.b64encode(b"/turnout/").decode(),
                           "range_end": base64.b64encode(b"/turnout0").decode()}).encode()
        cpu0, t = proc_cpu(self.etcd.pid), time.monotonic()
        req = urllib.request.Request(self.etcd_url + "/v3/kv/range", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            n = len(resp.read())
        return time.monotonic() - t, n, proc_cpu(self.etcd.pid) - cpu0

    def run(self):
        args = self.args
        self.results["uptime_start"] = uptime()
        B.log(f"temp dir {self.tmp}; {uptime()}")
        self.start_backends()
        self.start_etcd()
        B.log(f"etcd up at {self.etcd_url}; starting edge-1 with {args.routes} routes (it seeds the prefix)")
        self.start_instance("edge-1", args.routes)
        # edge-1 serves its file's table before the seed lands; it is in the fleet (its instance
        # record written) once the seed is complete. The others start after that, so the start-up
        # figures are each instance's own (an instance that finds a seed in progress waits for it).
        s, _ = self.wait_serving("edge-1", f"h{args.routes - 1}.example.com")
        self.wait_fleet(["edge-1"])
        seeded = time.monotonic() - self.inst["edge-1"]["t0"]
        self.results["startup"].update({"edge-1_serving_s": s, "edge-1_seeded_s": seeded})
        B.log(f"edge-1 serving h{args.routes - 1} from its file after {B.fmt_num(s, 2)} s, seeded etcd after "
              f"{B.fmt_num(seeded, 2)} s")
        for name, cpu in (("edge-2", B.PROXY_CPU), ("edge-3", None)):
            self.start_instance(name, args.routes, cpu=cpu)
            self.wait_fleet(["edge-1", name])
            s = time.monotonic() - self.inst[name]["t0"]
            self.results["startup"][f"{name}_s"] = s
            B.log(f"{name} in the fleet after {B.fmt_num(s, 2)} s (config load + read of etcd's table)")
        f = self.wait_fleet(["edge-1", "edge-2", "edge-3"])
        B.log(f"fleet at version {f['version']}: {sorted(f['instances'])}")
        # Warm-up: the first changes pay for connections and first allocations.
        a = self.admin("edge-1")
        for i in range(20):
            a.call("POST", FLEET_CHANGE_URL, change_body(i))
        a.close()
        if "1" in args.parts:
            for rnd in range(1, args.rounds + 1):
                self.change_round(rnd)
        if "3" in args.parts:
            for rnd in range(1, args.load_rounds + 1):
                for with_changes in ((False, True) if rnd % 2 else (True, False)):
                    self.load_run(rnd, with_changes)
                    time.sleep(0.5)
        if "2" in args.parts:
            for rnd in range(1, args.rounds + 1):
                self.join_round(rnd)
            reads = [self.gateway_read() for _ in range(3)]
            self.results["gateway_read"] = [{"s": t, "bytes": n, "etcd_cpu_s": c} for t, n, c in reads]
            B.log("  (2) the prefix read alone through etcd's JSON gateway: " +
                  ", ".join(f"{t:.2f} s ({n / 1e6:.1f} MB, etcd CPU {c:.2f} s)" for t, n, c in reads))
        self.results["uptime_end"] = uptime()
        B.log(f"done; {self.results['uptime_end']}")


# ---------------------------------------------------------------- report

def summarize(res):
    s = {}
    for mode in ("fleet", "local"):
        rs = [r for r in res["changes"] if r["mode"] == mode]
        if rs:
            every = [x for r in rs for x in r["latencies_ms"]]
            s[mode] = {"rounds": len(rs), "n": len(every), "failed": sum(r["failed"] for r in rs),
                       "p50_ms": median([r["p50_ms"] for r in rs]), "p99_ms": median([r["p99_ms"] for r in rs]),
                       "all_p50_ms": pct(every, 50), "all_p99_ms": pct(every, 99), "max_ms": max(every),
                       "p99_range": (min(r["p99_ms"] for r in rs), max(r["p99_ms"] for r in rs))}
    if res["join"]:
        v = [r["serve_s"] for r in res["join"] if r["serve_s"] is not None]
        s["join"] = {"median_s": median(v), "min_s": min(v) if v else None, "max_s": max(v) if v else None,
                     "listen_s": median([r["listen_s"] for r in res["join"]]), "rounds": len(res["join"])}
    ratios, per_change = [], {k: [] for k in ("etcd", "edge-1", "edge-2", "edge-3")}
    for rnd in sorted({r["round"] for r in res["load"]}):
        q = [r for r in res["load"] if r["round"] == rnd and not r["changes"]]
        c = [r for r in res["load"] if r["round"] == rnd and r["changes"]]
        if not q or not c or not q[0]["cpu_us_per_req"] or not c[0]["cpu_us_per_req"]:
            continue
        q, c = q[0], c[0]
        ratios.append(c["cpu_us_per_req"] / q["cpu_us_per_req"])
        if c["applied"]:
            scale = c["wall_s"] / q["wall_s"]
            for k in per_change:
                if k == "edge-2":
                    # edge-2 serves wrk in both runs: its extra CPU beyond the quiet run's per request.
                    extra = c["cpu_s"][k] - q["cpu_us_per_req"] * 1e-6 * c["requests"]
                else:
                    extra = c["cpu_s"][k] - q["cpu_s"][k] * scale
                per_change[k].append(extra * 1e6 / c["applied"])
    if ratios:
        q = [r for r in res["load"] if not r["changes"]]
        c = [r for r in res["load"] if r["changes"]]
        s["load"] = {"ratio": median(ratios), "ratios": ratios,
                     "quiet_us": median([r["cpu_us_per_req"] for r in q]),
                     "changes_us": median([r["cpu_us_per_req"] for r in c]),
                     "quiet_rps": median([r["rps"] for r in q]), "changes_rps": median([r["rps"] for r in c]),
                     "applied": median([r["applied"] for r in c]), "failed": sum(r["failed"] for r in c),
                     "change_p50_ms": median([r["change_p50_ms"] for r in c]),
                     "change_p99_ms": median([r["change_p99_ms"] for r in c]),
                     "errors": sum(r["errors"] for r in res["load"]),
                     "per_change_us": {k: median(v) for k, v in per_change.items()}}
        # edge-3 follows the same changes as edge-2 with no traffic of its own: its CPU per change
        # is what applying one costs an instance, free of the load's noise. That cost × the
        # changes ÷ edge-2's CPU for the requests of the run: the overhead the changes should add.
        follow = s["load"]["per_change_us"]["edge-3"]
        if follow is not None and s["load"]["quiet_us"]:
            model = [follow * r["applied"] / (s["load"]["quiet_us"] * r["requests"]) for r in c if r["requests"]]
            s["load"]["model_overhead"] = median(model)
    return s


def mark(ok):
    return "met" if ok else "**not met**"


def write_report(res, s, path):
    f = B.fmt_num
    st = res["settings"]
    L = ["# Fleet mode at scale: 3 instances, 1 etcd, %s routes\n" % f"{st['routes']:,}",
         f"Run {res['started']} – {res['finished']} UTC on {res['machine']}.",
         f"turnout: {res['versions']['turnout']}; etcd: {res['versions']['etcd']}; wrk: {res['versions']['wrk']}.",
         f"Load before: `{res['uptime_start']}`; after: `{res['uptime_end']}` (the machine is shared: "
         "read latencies with it in mind; CPU per request is the figure it disturbs least).\n",
         "`bench/fleet_bench.py` (or `bench/run.sh --scenarios m`): edge-1 seeds etcd from a generated "
         "config, edge-2 and edge-3 start from the same file and read etcd's table; every instance "
         "`workers: 1`. Changes are `POST /v1/batch` on edge-1's admin socket, one keep-alive "
         f"connection, alternately mapping `{FLIP_HOST}` to green and unmapping it. bench/README.md "
         "(## Fleet) says how each figure is taken.\n",
         "## Targets\n", "| | target | measured | |", "|---|---|---|---|"]
    if "fleet" in s:
        fl = s["fleet"]
        L.append(f"| (1) change with `wait=fleet`, p50 | < {TARGET_P50_MS:.0f} ms | {f(fl['p50_ms'], 2)} ms | {mark(fl['p50_ms'] < TARGET_P50_MS)} |")
        L.append(f"| (1) change with `wait=fleet`, p99 | < {TARGET_P99_MS:.0f} ms | {f(fl['p99_ms'], 2)} ms | {mark(fl['p99_ms'] < TARGET_P99_MS)} |")
    if "join" in s and s["join"]["median_s"] is not None:
        j = s["join"]
        L.append(f"| (2) cold instance joins, serves h{st['routes'] - 1} | < {TARGET_JOIN_S:.0f} s | {f(j['median_s'], 2)} s "
                 f"(max {f(j['max_s'], 2)}) | {mark(j['max_s'] < TARGET_JOIN_S)} |")
    if "load" in s:
        ld = s["load"]
        L.append(f"| (3) edge-2 CPU/request, changes ÷ quiet, measured | ≤ {TARGET_CPU_RATIO:.2f}× | {f(ld['ratio'], 3)}× "
                 f"(rounds {f(min(ld['ratios']), 2)}–{f(max(ld['ratios']), 2)}) | {mark(ld['ratio'] <= TARGET_CPU_RATIO)} |")
        if ld.get("model_overhead") is not None:
            L.append(f"| (3) the same, expected from a follower's CPU per change | ≤ {TARGET_CPU_RATIO:.2f}× | "
                     f"{f(1 + ld['model_overhead'], 3)}× | {mark(1 + ld['model_overhead'] <= TARGET_CPU_RATIO)} |")
    L.append("")
    if "fleet" in s:
        L += ["## (1) Change latency\n",
              f"{s['fleet']['rounds']} rounds; each round runs the changes with `wait=fleet` and the same number "
              "without it (answered once edge-1 applied it), order alternating. p50/p99: median over the rounds; "
              "'all': over every change.\n",
              "| | changes | failed | p50 | p99 | p99 range | all p50 | all p99 | max |", "|---|---|---|---|---|---|---|---|---|"]
        for mode, label in (("fleet", "`?wait=fleet` (every instance applied)"), ("local", "no wait (edge-1 applied)")):
            if mode in s:
                m = s[mode]
                L.append(f"| {label} | {m['n']} | {m['failed']} | {f(m['p50_ms'], 2)} ms | {f(m['p99_ms'], 2)} ms | "
                         f"{f(m['p99_range'][0], 1)}–{f(m['p99_range'][1], 1)} ms | {f(m['all_p50_ms'], 2)} ms | "
                         f"{f(m['all_p99_ms'], 2)} ms | {f(m['max_ms'], 1)} ms |")
        L += ["", "Per round:\n", "| round | mode | p50 | p99 | max |", "|---|---|---|---|---|"]
        for r in res["changes"]:
            L.append(f"| {r['round']} | {r['mode']} | {f(r['p50_ms'], 2)} ms | {f(r['p99_ms'], 2)} ms | {f(r['max_ms'], 1)} ms |")
        L.append("")
    if "join" in s:
        j = s["join"]
        L += ["## (2) Cold instance joining\n",
              "edge-4: a fresh process, no state file, its config holding one route (`tiny.example.com`); etcd's "
              f"{st['routes']:,}-route table wins. Time from process start until `h{st['routes'] - 1}.example.com` "
              "through it is answered 200 by a backend (polled every 5 ms); 'listening': its first accepted "
              "connection. Stopped (SIGTERM) after each round.\n",
              "| round | listening | serves the fleet's table | edge-4 CPU | etcd CPU meanwhile | load avg |",
              "|---|---|---|---|---|---|"]
        for r in res["join"]:
            L.append(f"| {r['round']} | {f(r['listen_s'], 3)} s | {f(r['serve_s'], 3)} s | {f(r.get('cpu_s'), 2)} s | "
                     f"{f(r.get('etcd_cpu_s'), 2)} s | {r['loadavg']:.1f} |")
        L.append(f"\nMedian {f(j['median_s'], 3)} s (min {f(j['min_s'], 3)}, max {f(j['max_s'], 3)}). "
                 f"Start-up at this size, for reference: edge-1 serves from its {st['routes']:,}-route file after "
                 f"{f(res['startup'].get('edge-1_serving_s'), 2)} s and has seeded etcd after "
                 f"{f(res['startup'].get('edge-1_seeded_s'), 2)} s; edge-2 and edge-3, from the same file, are in the "
                 f"fleet after {f(res['startup'].get('edge-2_s'), 2)} s and {f(res['startup'].get('edge-3_s'), 2)} s.\n")
        if res.get("gateway_read"):
            g = res["gateway_read"]
            L.append("The same read without turnout (one range read of the prefix through etcd's JSON gateway, "
                     "as an instance's first read): " + ", ".join(
                         f"{x['s']:.2f} s ({x['bytes'] / 1e6:.1f} MB, etcd CPU {x['etcd_cpu_s']:.2f} s)" for x in g)
                     + ". The rest of a join is turnout's: decoding that answer and building the table.\n")
    if "load" in s:
        ld = s["load"]
        L += ["## (3) Changes under load\n",
              f"`wrk -t1 -c50 -d{st['duration']}s` small keep-alive requests (`Host: {LOAD_HOST}`, 128 B "
              "responses) through edge-2, pinned to CPU 0 (wrk on CPU 1; etcd, edge-1, edge-3 and the backends "
              f"float). With changes: {st['load_changes']:,} changes paced evenly over the run from edge-1, each "
              "`wait=fleet`. The two kinds of run interleaved, order alternating by round.\n",
              "| | quiet | with changes |", "|---|---|---|",
              f"| edge-2 CPU µs/request (median) | {f(ld['quiet_us'], 2)} | {f(ld['changes_us'], 2)} |",
              f"| requests/s (median) | {f(ld['quiet_rps'])} | {f(ld['changes_rps'])} |",
              f"| changes applied in the run (median) | – | {f(ld['applied'])} (failed: {ld['failed']}) |",
              f"| change latency p50 / p99 (median) | – | {f(ld['change_p50_ms'], 1)} / {f(ld['change_p99_ms'], 1)} ms |",
              f"\nRatio changes ÷ quiet per round: {', '.join(f(x, 3) for x in ld['ratios'])}; median "
              f"**{f(ld['ratio'], 3)}×**. wrk errors over all runs: {ld['errors']}.\n",
              f"Expected from what following a change costs an instance with no traffic (edge-3's CPU per change × "
              f"the changes applied ÷ edge-2's quiet CPU per request × the requests of the run): "
              f"**+{f(100 * ld['model_overhead'], 1) if ld.get('model_overhead') is not None else '–'}%** "
              "CPU per request.\n",
              "CPU per change (the run with changes less the quiet run of the same round, scaled to the same "
              "wall time; for edge-2, less its quiet CPU per request × the requests it served), median over rounds:\n",
              "| process | µs CPU per change |", "|---|---|"]
        for k, v in ld["per_change_us"].items():
            L.append(f"| {k} | {f(v)} |")
        L += ["", "Per run:\n", "| round | run | requests/s | edge-2 µs/req | applied | etcd CPU s | edge-1 CPU s | edge-2 CPU s | edge-3 CPU s | load |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        for r in res["load"]:
            c = r["cpu_s"]
            L.append(f"| {r['round']} | {'changes' if r['changes'] else 'quiet'} | {f(r['rps'])} | {f(r['cpu_us_per_req'], 2)} | "
                     f"{r['applied']} | {c['etcd']:.2f} | {c['edge-1']:.2f} | {c['edge-2']:.2f} | {c['edge-3']:.2f} | {r['loadavg']:.1f} |")
        L.append("")
    if res["incidents"]:
        L += ["## Incidents\n"] + [f"- {x}" for x in res["incidents"]] + [""]
    with open(path, "w") as fh:
        fh.write("\n".join(L) + "\n")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(os.path.dirname(BENCH), "build-bench"))
    ap.add_argument("--routes", type=int, default=100000, help="routes in the shared table")
    ap.add_argument("--changes", type=int, default=300, help="(1): changes with wait=fleet (and as many without)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of (1) and (2)")
    ap.add_argument("--load-rounds", type=int, default=5, help="rounds of (3), each a run with changes and one without")
    ap.add_argument("--duration", type=int, default=20, help="(3): seconds per wrk run")
    ap.add_argument("--load-changes", type=int, default=1000, help="(3): changes paced over each run with changes")
    ap.add_argument("--parts", default="123", help="which of the three measurements to run")
    ap.add_argument("--port-base", type=int, default=0, help="take consecutive ports from here (default: free ports)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 10k routes, 60 changes, 5 s runs")
    ap.add_argument("--out", default=os.path.join(BENCH, "results"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs, etcd data)")
    ap.add_argument("--report-only", metavar="JSON", help="re-render fleet.md from a fleet.json, no measuring")
    args = ap.parse_args(argv)
    return finish_args(args)


def finish_args(args):
    args.build = os.path.abspath(args.build)
    if args.quick:
        args.routes, args.changes, args.duration, args.load_changes, args.load_rounds = 10000, 60, 5, 250, 2
    return args


def main(args):
    if args.report_only:
        with open(args.report_only) as fh:
            res = json.load(fh)
        res["summary"] = s = summarize(res)
        os.makedirs(args.out, exist_ok=True)
        write_report(res, s, os.path.join(args.out, "fleet.md"))
        return B.log(f"re-rendered {args.out}/fleet.md from {args.report_only}")
    if not shutil.which("etcd"):
        sys.exit("etcd not found (Debian package etcd-server)")
    # etcd, edge-1, edge-3 and the backends float over every CPU (bench.py pins itself to CPU 1
    # before it calls this); edge-2 is pinned to CPU 0 and wrk to CPU 1 where they start.
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
    fl = Fleet(args)
    started = datetime.datetime.utcnow()
    try:
        fl.run()
    except KeyboardInterrupt:
        B.log("interrupted; writing what was measured")
        fl.results.setdefault("uptime_end", uptime())
    finally:
        B.PROCS.stop_all()
    res = fl.results
    res.update(started=started.strftime("%Y-%m-%d %H:%M"), finished=datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
               machine=B.machine(), settings={k: v for k, v in vars(args).items()},
               versions={"turnout": B.run([fl.turnout(), "--version"]).stdout.strip().splitlines()[0],
                         "etcd": B.run(["etcd", "--version"]).stdout.strip().splitlines()[0],
                         "wrk": (lambda p: (p.stdout + p.stderr).strip().splitlines()[0])(B.run(["wrk", "-v"]))})
    s = summarize(res)
    res["summary"] = s
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "fleet.json"), "w") as fh:
        json.dump(res, fh, indent=1, default=str)
    write_report(res, s, os.path.join(args.out, "fleet.md"))
    B.log(f"wrote {args.out}/fleet.md and fleet.json")
    if args.keep:
        B.log(f"kept {fl.tmp}")
    else:
        shutil.rmtree(fl.tmp, ignore_errors=True)


if __name__ == "__main__":
    import signal

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    main(parse_args())

#!/usr/bin/env python3
"""turnout vs nginx vs HAProxy, measured side by side in one run (bench/run.sh calls this).

Everything runs on 127.0.0.1 from a temp dir: fixed-response backends (bench/backend.cc),
turnout, nginx and HAProxy each with ONE worker, started by hand with generated configs on
free ports (never as system services). The proxy is pinned to CPU 0; wrk, the backends and
every helper to CPU 1. Scenarios (see bench/README.md):

  a  small responses, keep-alive, 50 connections      e  10,000 idle keep-alive clients: RSS/conn
  b  a new connection per request (Connection: close)  f  remaps every 0.5 s under load: failures
  c  64 KiB responses                                  g  remap scale at 100k / 1M routes (turnout)
  d  10 MiB uploads (POST)

TLS (bench/tls_bench.py, results/tls.md; --scenarios hijk): h TLS keep-alive small responses,
i full TLS 1.3 handshakes, j resumed handshakes, k idle TLS connections.
HTTP/2 (bench/h2_bench.py, results/h2.md; --scenarios l): h2load -c10 -m10 over TLS with ALPN h2.
Fleet (bench/fleet_bench.py, results/fleet.md; --scenarios m): 3 instances + etcd at 100k routes.

Results: bench/results/latest.{md,json,png}. `--profile` also profiles turnout in (a) and (b).
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

FD_LIMIT = 20000  # per proxy process; raised to the hard limit at start (see main)
BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
PROXY_CPU, LOAD_CPU = 0, 1
PROXIES = ["turnout", "nginx", "haproxy"]
TARGETS = ["direct"] + PROXIES
# The floor of (a): bench/tcp_relay copies bytes between each client and its own backend
# connection, with no HTTP. In (a) every request and response fits one read, so the relay makes
# the fewest syscalls any proxy can (a read and a write each way) and its CPU per request is a
# lower bound for all of them. Not run elsewhere: in (b) it would connect to a backend per request
# (no pooling), and in (c) and (d) its 64 KiB reads set its cost, not the kernel's minimum.
FLOOR = "relay"
FLOOR_SCENARIOS = "a"
LOAD_TARGETS = TARGETS + [FLOOR]
SMALL_BYTES, BIG_BYTES = 128, 64 * 1024
UPLOAD_BYTES = 10 * 1024 * 1024
# --baseline BINARY: a previous turnout binary run as one more target of (a)-(d), on the same
# backends and in the same rounds, so a change's cost is measured against what it replaces.
BASE = "turnout-base"
COLORS = {"direct": 0x9E9E9E, "relay": 0xC8C8C8, "turnout": 0xE4572E, BASE: 0xF2A285, "nginx": 0x2E8B57, "haproxy": 0x1F6FB4}

# scenario -> (title, host, wrk args, connections)
LOAD_SCENARIOS = {
    "a": ("small responses, keep-alive", "a.test", [], 50),
    "b": ("new connection per request", "a.test", ["-H", "Connection: close"], 50),
    "c": ("64 KiB responses", "big.test", [], 50),
    "d": ("10 MiB uploads", "a.test", ["-s", os.path.join(BENCH, "lua", "upload.lua")], 8),
}
# Each peer as an expert would run it; bench/README.md lists every setting and its reason.
# turnout keeps every idle upstream connection until upstream_idle (no count limit): nginx's
# `keepalive` (idle connections kept per upstream per worker) is set far above any concurrency
# here, so neither pool ever closes a connection the other would have kept.
UPSTREAM_POOL = 1024
# HAProxy's tune.bufsize is global, so it is chosen per scenario and HAProxy restarted when it
# changes (between scenarios, never during a run). 65536 matches turnout's 64 KiB reads; measured
# with and without it, it helps (d) 10 MiB uploads and costs (c) 64 KiB responses, so by default
# ("auto") it is set for (d) only. --haproxy-bufsize forces one value for every scenario.
HAPROXY_BUFSIZE_AUTO = {"d": 65536}


def log(msg):
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", flush=True)


# ---------------------------------------------------------------- processes and /proc

class Procs:
    """Every process this benchmark starts; all of them are stopped at exit, by pid."""

    def __init__(self):
        self.live = []

    def spawn(self, cmd, cpu=None, log_path=None, cwd=None, env=None, stdin=None, stdout=None):
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu)] + cmd
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=stdin or subprocess.DEVNULL,
                             stdout=stdout or out, stderr=out, start_new_session=True)
        self.live.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)  # its own session: the proxy and the workers it forked
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        if p in self.live:
            self.live.remove(p)

    def stop_all(self):
        for p in list(reversed(self.live)):
            self.stop(p, timeout=5)


PROCS = Procs()


def children(pid):
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def tree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid):
    """utime+stime (s) of pid and its descendants, plus what its reaped children used (cutime+cstime),
    so workers that exit during a run (reloads) are still counted."""
    total = 0
    for i, p in enumerate(tree(pid)):
        try:
            f = stat_fields(p)
        except OSError:
            continue
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / TICK


def cpu_ticks(cpu):
    """(busy, total) jiffies of one CPU from /proc/stat; busy excludes idle and iowait."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:9]]
                return sum(v) - v[3] - v[4], sum(v)
    return 0, 0


def busy_pct(before, after):
    dt = after[1] - before[1]
    return 100.0 * (after[0] - before[0]) / dt if dt > 0 else None


def vm_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid):
    """Proportional set size: pages shared between processes (nginx's and HAProxy's master and
    worker share the parsed configuration copy-on-write) counted once across them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def http_get(port, host, path="/"):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ---------------------------------------------------------------- wrk

def parse_duration_ms(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    v, u = float(m.group(1)), m.group(2)
    return v * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[u]


def parse_wrk(out):
    r = {"requests": 0, "seconds": 0.0, "rps": 0.0, "p50_ms": None, "p99_ms": None,
         "socket_errors": 0, "non2xx": 0}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if m:
        r["requests"] = int(m.group(1))
        r["seconds"] = parse_duration_ms(m.group(2) + m.group(3)) / 1e3
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+(?:us|ms|s|m))\s*$", out, re.M)
        if m:
            r[key] = parse_duration_ms(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["socket_errors"] = sum(int(x) for x in m.groups())
        r["socket_detail"] = dict(zip(["connect", "read", "write", "timeout"], map(int, m.groups())))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    r["errors"] = r["socket_errors"] + r["non2xx"]
    return r


def wrk(port, seconds, conns, host=None, extra=(), env=None, scheme="http"):
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if host:
        cmd += ["-H", f"Host: {host}"]
    cmd += list(extra) + [f"{scheme}://127.0.0.1:{port}/"]
    p = run(cmd, env=env, timeout=seconds + 60)  # inherits CPU 1 from this process
    r = parse_wrk(p.stdout)
    r["raw"] = p.stdout + p.stderr
    return r


# ---------------------------------------------------------------- the setup

class Bench:
    def __init__(self, args):
        self.args = args
        self.build = args.build
        self.tmp = tempfile.mkdtemp(prefix="turnout-bench.")
        self.ports = {}
        self.backends = {}   # name -> Popen
        self.proxies = {}    # name -> Popen (master)
        self.relays = {}     # host -> (Popen, port): the floor
        self.results = {"runs": [], "idle": [], "remap": [], "scale": {}, "incidents": []}
        self.gen = 0         # f: which side (blue/green) the configs point at
        self.haproxy_bufsize = 0  # tune.bufsize HAProxy runs with now (0: its default)

    # ---- backends
    def start_backend(self, name, size, port=None):
        port = port or free_port()
        p = PROCS.spawn([os.path.join(self.build, "bench", "turnout-backend"), "--listen", f"127.0.0.1:{port}",
                         "--name", name, "--size", str(size), "--threads", "1"],
                        log_path=os.path.join(self.tmp, f"backend-{name}.log"))
        if not wait_port(port):
            sys.exit(f"backend {name} did not start")
        self.backends[name] = p
        self.ports[name] = port
        return p

    def start_backends(self):
        for name, size in (("a1", SMALL_BYTES), ("a2", SMALL_BYTES), ("g1", SMALL_BYTES), ("g2", SMALL_BYTES),
                           ("big1", BIG_BYTES), ("big2", BIG_BYTES)):
            self.start_backend(name, size)

    def addr(self, name):
        return f"127.0.0.1:{self.ports[name]}"

    def app_servers(self, app):
        return {"a": ["a1", "a2"], "a2": ["g1", "g2"], "big": ["big1", "big2"]}[app]

    # ---- turnout
    def turnout_conf(self, a_test_app="a", name="turnout"):
        d = os.path.join(self.tmp, name)
        apps = "\n".join(f"  {app}: {{ servers: [{', '.join(repr(self.addr(s)) for s in self.app_servers(app))}] }}"
                         for app in ("a", "a2", "big"))
        return f"""# generated by bench/bench.py
listen: ["127.0.0.1:{self.ports[name]}"]
workers: 1
admin: {{ socket: {d}/turnout.sock }}
access_log: off
log_level: info
apps:
{apps}
routes:
  a.test: [{a_test_app}]
  big.test: [big]
timeouts: {{ connect: 2s, request_header: 10s, upstream_response: 60s, client_idle: 60s, upstream_idle: 30s, drain: 5s }}
limits: {{ max_connections: {FD_LIMIT - 500} }}
"""

    def start_turnout(self, name="turnout"):
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        self.ports.setdefault(name, free_port())
        cfg = os.path.join(d, "turnout.yaml")
        write_atomic(cfg, self.turnout_conf(name=name))
        binary = self.args.baseline if name == BASE else os.path.join(self.build, "turnout")
        p = PROCS.spawn([binary, "run", "-c", cfg], cpu=PROXY_CPU,
                        log_path=os.path.join(d, "turnout.log"), cwd=d)
        self.proxies[name] = p
        self.wait_ready(name)

    def turnout_sock(self):
        return os.path.join(self.tmp, "turnout", "turnout.sock")

    def ctl(self, *args):
        return run([os.path.join(self.build, "turnout"), "ctl", "-s", self.turnout_sock()] + list(args), timeout=30)

    # ---- nginx
    def nginx_upstreams(self):
        """The upstream blocks of every nginx config here: one per app, pooled as in production."""
        return "".join(
            f"  upstream app_{app} {{\n" + "".join(f"    server {self.addr(s)};\n" for s in self.app_servers(app)) +
            f"    keepalive {UPSTREAM_POOL};\n    keepalive_requests 1000000;\n    keepalive_timeout 30s;\n  }}\n"
            for app in ("a", "a2", "big"))

    def nginx_head(self, d):
        """What every nginx config here starts with (one worker, files under `d`), up to the
        client keep-alive settings inside `http {`."""
        user = "user root;\n" if os.geteuid() == 0 else ""
        return f"""{user}daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile {FD_LIMIT};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections {FD_LIMIT - 500}; multi_accept on; }}
http {{
  access_log off;
  client_body_temp_path {d}/client_body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  keepalive_timeout 60s;
  keepalive_requests 1000000;
"""

    def nginx_conf(self, a_test_app="a"):
        d = os.path.join(self.tmp, "nginx")
        port = self.ports["nginx"]
        ups, head = self.nginx_upstreams(), self.nginx_head(d)
        return f"""# generated by bench/bench.py
{head}  client_max_body_size 0;
  proxy_request_buffering off;
  proxy_buffering off;
  proxy_buffer_size 64k;
  proxy_buffers 4 64k;
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host $http_host;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  proxy_set_header X-Forwarded-Proto $scheme;
  proxy_set_header X-Forwarded-Host $host;
  proxy_set_header Via "1.1 nginx";
{ups}  server {{ listen 127.0.0.1:{port} backlog=4096 deferred default_server; server_name _; return 404 "no route for host\\n"; }}
  server {{ listen 127.0.0.1:{port}; server_name a.test; location / {{ proxy_pass http://app_{a_test_app}; }} }}
  server {{ listen 127.0.0.1:{port}; server_name big.test; location / {{ proxy_pass http://app_big; }} }}
}}
"""

    def start_nginx(self):
        d = os.path.join(self.tmp, "nginx")
        os.makedirs(d, exist_ok=True)
        self.ports.setdefault("nginx", free_port())
        write_atomic(os.path.join(d, "nginx.conf"), self.nginx_conf())
        p = PROCS.spawn(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e", os.path.join(d, "error.log")],
                        cpu=PROXY_CPU, log_path=os.path.join(d, "stderr.log"))
        self.proxies["nginx"] = p
        self.wait_ready("nginx")

    def nginx_reload(self):
        d = os.path.join(self.tmp, "nginx")
        return run(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e", os.path.join(d, "error.log"),
                    "-s", "reload"], timeout=30)

    # ---- HAProxy
    def haproxy_conf(self, a_side="blue", bufsize=None):
        d = os.path.join(self.tmp, "haproxy")
        bufsize = self.haproxy_bufsize if bufsize is None else bufsize
        tune = f"  tune.bufsize {bufsize}\n" if bufsize else ""
        blue = "" if a_side == "blue" else " disabled"
        green = "" if a_side == "green" else " disabled"
        return f"""# generated by bench/bench.py
global
  nbthread 1
  tune.maxaccept 64
{tune}  ulimit-n {FD_LIMIT}
  no strict-limits
  maxconn {FD_LIMIT // 2 + 500}
  stats socket {d}/admin.sock mode 600 level admin expose-fd listeners
  hard-stop-after 30s
defaults
  mode http
  maxconn {FD_LIMIT // 2 + 500}
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout http-request 10s
  timeout http-keep-alive 60s
  option forwardfor
  http-reuse always
frontend fe
  bind 127.0.0.1:{self.ports['haproxy']} defer-accept
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request add-header Via "1.1 haproxy"
  use_backend %[req.hdr(host),field(1,:),lower,map({d}/hosts.map,be_none)]
backend be_a
  balance roundrobin
  server s1 {self.addr('a1')}{blue}
  server s2 {self.addr('a2')}{blue}
  server g1 {self.addr('g1')}{green}
  server g2 {self.addr('g2')}{green}
backend be_big
  balance roundrobin
  server b1 {self.addr('big1')}
  server b2 {self.addr('big2')}
backend be_none
  http-request return status 404 content-type text/plain string "no route for host"
"""

    def start_haproxy(self):
        d = os.path.join(self.tmp, "haproxy")
        os.makedirs(d, exist_ok=True)
        self.ports.setdefault("haproxy", free_port())
        write_atomic(os.path.join(d, "hosts.map"), "a.test be_a\nbig.test be_big\n")
        cfg = os.path.join(d, "haproxy.cfg")
        write_atomic(cfg, self.haproxy_conf())
        p = PROCS.spawn(["haproxy", "-W", "-f", cfg], cpu=PROXY_CPU, log_path=os.path.join(d, "stderr.log"))
        self.proxies["haproxy"] = p
        self.wait_ready("haproxy")

    def bufsize_for(self, scen):
        """HAProxy's tune.bufsize for scenario `scen` (0: HAProxy's default, 16 KiB)."""
        choice = self.args.haproxy_bufsize
        if choice == "auto":
            return HAPROXY_BUFSIZE_AUTO.get(scen, 0)
        return 0 if choice == "default" else int(choice)

    def haproxy_for(self, scen):
        """Restarts HAProxy with the tune.bufsize scenario `scen` runs with, if it differs."""
        want = self.bufsize_for(scen)
        if want != self.haproxy_bufsize:
            log(f"  restarting HAProxy with tune.bufsize {want or 'default (16384)'} for ({scen})")
            self.haproxy_bufsize = want
            PROCS.stop(self.proxies["haproxy"])
            self.start_haproxy()

    def haproxy_api(self, cmd):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(os.path.join(self.tmp, "haproxy", "admin.sock"))
            s.sendall((cmd + "\n").encode())
            out = b""
            while True:
                c = s.recv(65536)
                if not c:
                    break
                out += c
        return out.decode(errors="replace").strip()

    # ---- common
    def wait_ready(self, name, timeout=15):
        port = self.ports[name]
        host = "a.test"
        end = time.time() + timeout
        while time.time() < end:
            if self.proxies[name].poll() is not None:
                sys.exit(f"{name} exited at start; see {self.tmp}/{name}/")
            try:
                if b" 200 " in http_get(port, host).split(b"\r\n", 1)[0]:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        sys.exit(f"{name} did not answer 200 for Host: {host} on port {port}")

    # ---- the floor: one tcp_relay per host, since it cannot route
    def start_relays(self):
        for host, app in (("a.test", "a"), ("big.test", "big")):
            port = free_port()
            cmd = [os.path.join(self.build, "bench", "tcp_relay"), "--listen", f"127.0.0.1:{port}"]
            for s in self.app_servers(app):
                cmd += ["--backend", self.addr(s)]
            p = PROCS.spawn(cmd, cpu=PROXY_CPU, log_path=os.path.join(self.tmp, f"relay-{app}.log"))
            if not wait_port(port):
                sys.exit(f"tcp_relay for {host} did not start")
            self.relays[host] = (p, port)

    def start(self, name):
        {"turnout": self.start_turnout, "nginx": self.start_nginx, "haproxy": self.start_haproxy,
         BASE: lambda: self.start_turnout(BASE)}[name]()

    def ensure_up(self, name):
        """Restarts a proxy that died (something outside this benchmark may signal it on a shared
        machine); every such restart is recorded and shown in the report."""
        p = self.proxies.get(name)
        if p is None or p.poll() is None:
            return
        tail = ""
        logf = os.path.join(self.tmp, name, "turnout.log" if name in ("turnout", BASE) else "stderr.log")
        if os.path.exists(logf):
            with open(logf, errors="replace") as f:
                tail = " | ".join(f.read().strip().splitlines()[-2:])
        log(f"  !! {name} exited unexpectedly (status {p.returncode}); restarting. Log: {tail[:300]}")
        self.results["incidents"].append(dict(time=datetime.datetime.utcnow().isoformat(), proxy=name,
                                              status=p.returncode, log=tail[:500]))
        PROCS.live.remove(p)
        self.start(name)

    def restart(self, name):
        PROCS.stop(self.proxies[name])
        self.start(name)

    def port_of(self, target, host):
        if target == FLOOR:
            return self.relays[host][1]
        if target == "direct":
            return self.ports["big1" if host == "big.test" else "a1"]
        return self.ports[target]

    def cpu_root(self, target, host):
        if target == FLOOR:
            return self.relays[host][0].pid
        if target == "direct":
            return self.backends["big1" if host == "big.test" else "a1"].pid
        return self.proxies[target].pid

    def serving_pids(self, target, host="a.test"):
        """The processes that serve traffic: turnout itself, nginx's and HAProxy's workers."""
        root = self.cpu_root(target, host)
        if target in ("nginx", "haproxy"):
            return children(root) or [root]
        return [root]

    def rss_kib(self, target, host="a.test"):
        return sum(vm_rss_kib(p) for p in self.serving_pids(target, host))

    # ---------------------------------------------------------------- scenarios a-d
    def load_run(self, scen, target, rnd):
        title, host, extra, conns = LOAD_SCENARIOS[scen]
        if target in PROXIES or target == BASE:
            self.ensure_up(target)
        if target == "haproxy":
            self.haproxy_for(scen)
        port = self.port_of(target, host)
        root = self.cpu_root(target, host)
        cpu0 = tree_cpu(root)
        load = os.getloadavg()[0]
        # How busy each CPU was: a proxy whose CPU has headroom while the load CPU is saturated is
        # not what limits requests/s in that run.
        t0, l0 = time.monotonic(), cpu_ticks(LOAD_CPU)
        r = wrk(port, self.args.duration, conns, host, extra)
        cpu = tree_cpu(root) - cpu0
        wall = time.monotonic() - t0
        r.update(scenario=scen, target=target, round=rnd, loadavg=load, cpu_s=cpu,
                 cpu_us_per_req=(cpu * 1e6 / r["requests"]) if r["requests"] else None,
                 proxy_busy_pct=100.0 * cpu / wall if wall > 0 else None,
                 load_cpu_busy_pct=busy_pct(l0, cpu_ticks(LOAD_CPU)),
                 rss_kib=self.rss_kib(target, host))
        raw = r.pop("raw")
        if not r["requests"]:
            log(f"  wrk failed: {raw.strip()[:400]}")
        self.results["runs"].append(r)
        log(f"  ({scen}) {target:8} round {rnd}: {r['rps']:9.0f} req/s  p50 {fmt_ms(r['p50_ms'])}  "
            f"p99 {fmt_ms(r['p99_ms'])}  cpu {fmt_num(r['cpu_us_per_req'], 1)} us/req  "
            f"rss {r['rss_kib'] / 1024:.1f} MiB  errors {r['errors']}  busy: proxy {fmt_num(r['proxy_busy_pct'])}% "
            f"load CPU {fmt_num(r['load_cpu_busy_pct'])}%  (load {load:.1f})")

    # ---------------------------------------------------------------- scenario e
    def idle_run(self, target, rnd):
        n = self.args.idle_conns
        if target == "direct":  # a fresh backend, so its heap starts empty like the proxies'
            be = self.start_backend("idle", SMALL_BYTES)
            port, pids = self.ports["idle"], lambda: [be.pid]
        else:
            self.restart(target)  # a fresh process: earlier scenarios' heaps do not hide the growth
            port, pids = self.ports[target], lambda: self.serving_pids(target)
            http_get(port, "a.test")
        time.sleep(0.5)
        before = sum(vm_rss_kib(p) for p in pids())
        cl = PROCS.spawn([os.path.join(self.build, "bench", "idle_clients"), "--connect", f"127.0.0.1:{port}",
                          "--host", "a.test", "--conns", str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = cl.stdout.readline().decode().strip()
        m = re.match(r"ready ok=(\d+) failed=(\d+) ms=(\d+)", line)
        time.sleep(1.0)
        after = sum(vm_rss_kib(p) for p in pids())
        cl.stdin.close()
        tail = cl.stdout.read().decode()
        cl.wait(30)
        PROCS.live.remove(cl)
        ok, failed = (int(m.group(1)), int(m.group(2))) if m else (0, n)
        closed = int(re.search(r"closed_by_peer=(\d+)", tail).group(1)) if "closed_by_peer" in tail else None
        r = dict(target=target, round=rnd, conns=n, ok=ok, failed=failed, open_ms=int(m.group(3)) if m else None,
                 closed_by_peer=closed, rss_before_kib=before, rss_after_kib=after,
                 kib_per_conn=(after - before) / ok if ok else None)
        self.results["idle"].append(r)
        log(f"  (e) {target:8} round {rnd}: {ok}/{n} open, RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB = "
            f"{fmt_num(r['kib_per_conn'], 2)} KiB/conn, closed by peer {closed}")
        if target == "direct":
            PROCS.stop(be)

    # ---------------------------------------------------------------- scenario f
    def remap_variants(self):
        """name -> (proxy, one change(i) -> (ok, detail))."""
        def nginx_reload(i):
            self.gen ^= 1
            write_atomic(os.path.join(self.tmp, "nginx", "nginx.conf"), self.nginx_conf("a2" if self.gen else "a"))
            p = self.nginx_reload()
            return p.returncode == 0, p.stderr.strip()

        def haproxy_runtime(i):
            # Blue-green by server state on even ticks, a dynamic server added (and the previous
            # one put in maintenance) on odd ticks: both kinds of runtime-API change.
            if i % 2 == 0:
                self.gen ^= 1
                up, down = (("g1", "g2"), ("s1", "s2")) if self.gen else (("s1", "s2"), ("g1", "g2"))
                cmds = [f"set server be_a/{s} state ready" for s in up] + \
                       [f"set server be_a/{s} state maint" for s in down]
            else:
                k = i // 2
                srv = self.addr("g1" if self.gen else "a1")
                cmds = [f"add server be_a/d{k} {srv}", f"enable server be_a/d{k}"]
                if k > 0:
                    cmds.append(f"set server be_a/d{k - 1} state maint")
            bad = []
            for c in cmds:
                out = self.haproxy_api(c)
                if out and out != "New server registered.":
                    bad.append(f"{c}: {out}")
            return not bad, "; ".join(bad)

        def haproxy_reload(i):
            self.gen ^= 1
            write_atomic(os.path.join(self.tmp, "haproxy", "haproxy.cfg"), self.haproxy_conf("green" if self.gen else "blue"))
            os.kill(self.proxies["haproxy"].pid, signal.SIGUSR2)
            return True, ""

        cycle = [["map", "a2", "a.test"], ["unmap", "a", "a.test"], ["map", "a", "a.test"],
                 ["unmap", "a2", "a.test"], ["swap", "a", "a2", "a.test"], ["swap", "a2", "a", "a.test"]]

        def turnout_ctl(i):
            p = self.ctl(*cycle[i % len(cycle)])
            return p.returncode == 0, (p.stderr or p.stdout).strip()

        def turnout_reload(i):
            self.gen ^= 1
            write_atomic(os.path.join(self.tmp, "turnout", "turnout.yaml"), self.turnout_conf("a2" if self.gen else "a"))
            p = self.ctl("reload")
            return p.returncode == 0, (p.stderr or p.stdout).strip()

        return {
            "nginx -s reload": ("nginx", nginx_reload),
            "haproxy runtime API": ("haproxy", haproxy_runtime),
            "haproxy reload (-W, USR2)": ("haproxy", haproxy_reload),
            "turnout ctl map/unmap/swap": ("turnout", turnout_ctl),
            "turnout ctl reload": ("turnout", turnout_reload),
        }

    def remap_run(self, variant, proxy, change, rnd):
        secs = self.args.remap_duration
        self.ensure_up(proxy)
        self.gen = 0
        stop = threading.Event()
        changes = []

        def driver():
            t0 = time.time()
            i = 0
            while not stop.is_set():
                due = t0 + 0.5 * (i + 1)
                if stop.wait(max(0.0, due - time.time())):
                    break
                tc = time.time()
                try:
                    ok, detail = change(i)
                except Exception as e:  # a broken admin socket counts as a failed change
                    ok, detail = False, repr(e)
                changes.append((ok, detail, time.time() - tc))
                i += 1

        root = self.proxies[proxy].pid
        cpu0 = tree_cpu(root)
        th = threading.Thread(target=driver)
        th.start()
        r = wrk(self.ports[proxy], secs, 50, "a.test")
        stop.set()
        th.join()
        cpu = tree_cpu(root) - cpu0
        r.pop("raw")
        bad = [d for ok, d, _ in changes if not ok]
        lat = sorted(x for _, _, x in changes)
        r.update(variant=variant, proxy=proxy, round=rnd, changes=len(changes), changes_failed=len(bad),
                 change_errors=bad[:3], change_p50_ms=lat[len(lat) // 2] * 1e3 if lat else None,
                 cpu_us_per_req=cpu * 1e6 / r["requests"] if r["requests"] else None)
        self.results["remap"].append(r)
        log(f"  (f) {variant:28} round {rnd}: {r['requests']} requests, failed {r['errors']} "
            f"(socket {r['socket_errors']}, non-2xx {r['non2xx']}), {len(changes)} changes "
            f"({len(bad)} rejected{': ' + bad[0][:120] if bad else ''})")

    def restore_remaps(self):
        write_atomic(os.path.join(self.tmp, "nginx", "nginx.conf"), self.nginx_conf())
        self.nginx_reload()
        write_atomic(os.path.join(self.tmp, "turnout", "turnout.yaml"), self.turnout_conf())
        self.ctl("reload")
        PROCS.stop(self.proxies["haproxy"])  # drops the runtime-API servers and any old workers
        self.start_haproxy()

    # ---------------------------------------------------------------- scenario g
    def start_scale_turnout(self, tag, state_file, cpu=PROXY_CPU):
        """A fresh turnout of its own for (g), so the big table never touches the other scenarios."""
        d = os.path.join(self.tmp, tag)
        os.makedirs(d, exist_ok=True)
        port = free_port()
        sock = os.path.join(d, "turnout.sock")
        text = self.turnout_conf().replace(f"127.0.0.1:{self.ports['turnout']}", f"127.0.0.1:{port}") \
            .replace(os.path.join(self.tmp, "turnout", "turnout.sock"), sock)
        if state_file:
            text += f"state_file: {d}/turnout.state.json\n"
        cfg = os.path.join(d, "turnout.yaml")
        write_atomic(cfg, text)
        p = PROCS.spawn([os.path.join(self.build, "turnout"), "run", "-c", cfg], cpu=cpu,
                        log_path=os.path.join(d, "turnout.log"), cwd=d)
        self.proxies[tag], self.ports[tag] = p, port
        self.wait_ready(tag)
        return p, port, sock

    def scale_stages(self, p, port, sock, sizes, churn_at, routing_at, state_file, pinned=True, small=None):
        rb = os.path.join(self.build, "bench", "remap_bench")
        out = self.results["scale"]
        loaded = 0
        for n in sizes:
            t0 = time.time()
            q = run([rb, "--socket", sock, "load", "--from", str(loaded), "--to", str(n), "--batch", "10000"],
                    timeout=3600)
            kv = parse_kv(q.stdout)
            if q.returncode != 0:
                log(f"  (g) loading {n} routes failed: {q.stderr.strip()[:300]}")
                out["stages"].append(dict(routes=n, state_file=state_file, load_failed=q.stderr.strip()[:300]))
                return
            loaded = n
            stage = dict(routes=n, state_file=state_file, pinned=pinned, load_seconds=time.time() - t0,
                         load_routes_per_s=kv.get("routes_per_s"), batch_p50_ms=kv.get("batch_p50_ms"),
                         rss_kib=vm_rss_kib(p.pid))
            log(f"  (g) {n} routes loaded in {stage['load_seconds']:.1f} s (batch p50 {kv.get('batch_p50_ms')} ms)"
                f"{' with state_file' if state_file else ''}, turnout RSS {stage['rss_kib'] / 1024:.0f} MiB")
            if n in churn_at:
                # Three churns with different hosts; medians, because one run on a shared machine
                # can be hit by a neighbour's burst (the range shows it).
                runs = []
                for seed in (1, 2, 3):
                    q = run([rb, "--socket", sock, "churn", "--routes", str(n), "--changes", str(self.args.changes),
                             "--seed", str(seed)], timeout=3600)
                    kv = parse_kv(q.stdout)
                    runs.append(kv)
                    log(f"  (g) churn {seed}/3 at {n} routes: p50 {kv.get('p50_us')} us, p99 {kv.get('p99_us')} us, "
                        f"max {kv.get('max_us')} us, {kv.get('changes_per_s')} changes/s, errors {kv.get('errors')}  "
                        f"{q.stderr.strip()[:200]}")
                ok_runs = [r for r in runs if r.get("p99_us") is not None]
                med = lambda k: median([float(r[k]) for r in ok_runs]) if ok_runs else None
                stage.update(changes=sum(r.get("changes", 0) for r in runs), ok=sum(r.get("ok", 0) for r in runs),
                             errors=sum(r.get("errors", 0) for r in runs) if ok_runs else None,
                             p50_us=med("p50_us"), p99_us=med("p99_us"),
                             max_us=max(float(r["max_us"]) for r in ok_runs) if ok_runs else None,
                             changes_per_s=med("changes_per_s"), churn_runs=runs)
                stage["rss_after_kib"] = vm_rss_kib(p.pid)
            out["stages"].append(stage)
            if n in routing_at and small is not None:
                self.routing_cost(small, (p, port, n))

    def routing_cost(self, small, big):
        """Routing CPU per request with n routes against 1,000 routes: two turnouts, one per table
        size, measured in turn over the rounds (order rotated), like the load scenarios, so the
        machine's load shifts both alike. Each request carries a random Host of its turnout's table."""
        time.sleep(1.0)  # let the churn's retired table versions be reclaimed first
        pair = [small, big]
        for rnd in range(1, self.args.other_rounds + 1):
            for p, port, n in pair[rnd % 2:] + pair[:rnd % 2]:
                env = dict(os.environ, ROUTES=str(n))
                cpu0 = tree_cpu(p.pid)
                r = wrk(port, self.args.duration, 50, None, ["-s", os.path.join(BENCH, "lua", "random_host.lua")], env=env)
                cpu = tree_cpu(p.pid) - cpu0
                r.pop("raw")
                r.update(routes=n, versus=big[2], round=rnd,
                         cpu_us_per_req=cpu * 1e6 / r["requests"] if r["requests"] else None)
                self.results["scale"]["routing"].append(r)
                log(f"  (g) routing over {n:,} hosts (vs {big[2]:,}), round {rnd}: {r['rps']:.0f} req/s, turnout "
                    f"{fmt_num(r['cpu_us_per_req'], 1)} us/req, errors {r['errors']}")

    def scale(self):
        """Remap apply latency at 100k and 1M routes (in memory, then at 100k with a state_file), and
        routing CPU per request at 1k / 100k / 1M routes."""
        self.results["scale"] = {"stages": [], "routing": []}
        big = self.args.scale_routes
        # The 1,000-route turnout every routing-cost figure is compared with, alive for the whole stage.
        sp, sport, ssock = self.start_scale_turnout("scale-1k", False)
        rb = os.path.join(self.build, "bench", "remap_bench")
        q = run([rb, "--socket", ssock, "load", "--from", "0", "--to", "1000", "--batch", "10000"], timeout=600)
        small = (sp, sport, 1000) if q.returncode == 0 else None
        p, port, sock = self.start_scale_turnout("scale", False)
        self.scale_stages(p, port, sock, sorted(set([1000] + big)), set(big), set(big), False, small=small)
        PROCS.stop(p)
        PROCS.stop(sp)
        if self.args.scale_state:
            p, port, sock = self.start_scale_turnout("scale-state", True)
            self.scale_stages(p, port, sock, [min(big)], {min(big)}, set(), True)
            PROCS.stop(p)
        # The same churn with turnout's threads free to run on both CPUs: shows what pinning the
        # main loop and the worker to one CPU costs a change (they hand it over through uv_async).
        p, port, sock = self.start_scale_turnout("scale-unpinned", False, cpu="0,1")
        self.scale_stages(p, port, sock, [min(big)], {min(big)}, set(), False, pinned=False)
        PROCS.stop(p)

    # ---------------------------------------------------------------- scenario g: memory per route
    # The same hostnames h<i>.r.test in each proxy: turnout loads them through POST /v1/batch (as
    # (g) does), nginx from a `map $host` and HAProxy from a map file, both read at start. Each
    # proxy also runs once with the tiny table of (a)-(f), so per-route bytes exclude its baseline.
    def mem_sample(self, pid):
        """RSS (and PSS) KiB of each process of a proxy's tree, master first."""
        procs = []
        for p in tree(pid):
            if not os.path.exists(f"/proc/{p}"):
                continue
            try:
                with open(f"/proc/{p}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            procs.append(dict(pid=p, comm=comm, rss_kib=vm_rss_kib(p), pss_kib=pss_kib(p)))
        return dict(procs=procs, rss_kib=sum(x["rss_kib"] for x in procs), pss_kib=sum(x["pss_kib"] for x in procs))

    def wait_http(self, p, port, host, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if p.poll() is not None:
                return False
            try:
                if b" 200 " in http_get(port, host).split(b"\r\n", 1)[0]:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def mem_wrk(self, port, n):
        """The short wrk run over random hosts of the table (lua/random_host.lua), as (g)'s routing cost."""
        env = dict(os.environ, ROUTES=str(n))
        r = wrk(port, self.args.memory_duration, 50, None, ["-s", os.path.join(BENCH, "lua", "random_host.lua")], env=env)
        r.pop("raw")
        return dict(requests=r["requests"], rps=r["rps"], errors=r["errors"], p99_ms=r["p99_ms"])

    def mem_turnout(self, n, tiny, paths):
        """turnout, one worker: RSS with the tiny table, after loading n hosts through POST /v1/batch,
        after the wrk run, and after `kKeep` single changes have pushed the load's batches out of
        the rollback history (turnout keeps the last 32 versions; there is no setting)."""
        tag = f"mem-turnout-{n}{'-paths' if paths else ''}{'-tiny' if tiny else ''}"
        t0 = time.time()
        p, port, sock = self.start_scale_turnout(tag, False)
        row = dict(proxy="turnout", routes=0 if tiny else n, paths=paths, start_seconds=time.time() - t0)
        time.sleep(0.5)
        row["start"] = self.mem_sample(p.pid)
        if tiny:
            row["after_wrk"] = row["start"]
            PROCS.stop(p)
            return row
        rb = os.path.join(self.build, "bench", "remap_bench")
        first_line = lambda text: (text.strip().splitlines() or [""])[0][:200]
        if paths:
            # One path key first: a turnout without path keys is skipped before the long load.
            q = run([rb, "--socket", sock, "load", "--from", "0", "--to", "1", "--suffix", ".r.test/api"], timeout=60)
            if q.returncode != 0:
                row["skipped"] = f"this turnout rejects path keys ({first_line(q.stderr)})"
                PROCS.stop(p)
                return row
        t0 = time.time()
        q = run([rb, "--socket", sock, "load", "--from", "0", "--to", str(n), "--batch", "10000"], timeout=3600)
        if q.returncode != 0:
            row["failed"] = f"load: {first_line(q.stderr)}"
            PROCS.stop(p)
            return row
        if paths:
            # 10% more routes with a path: h<i>.r.test/api for i < n/10 (issue #16: 1M hosts + 10%).
            q = run([rb, "--socket", sock, "load", "--from", "1", "--to", str(n // 10), "--batch", "10000",
                     "--suffix", ".r.test/api"], timeout=3600)
            if q.returncode != 0:
                row["failed"] = f"loading path routes: {first_line(q.stderr)}"
                PROCS.stop(p)
                return row
            row["path_routes"] = n // 10
        row["load_seconds"] = time.time() - t0
        time.sleep(1.0)  # the reclaimer frees the versions the load pushed out of the history
        row["loaded"] = self.mem_sample(p.pid)
        row["wrk"] = self.mem_wrk(port, n)
        row["after_wrk"] = self.mem_sample(p.pid)
        # 32 single changes (PUT then DELETE of one host each): the kept versions then differ from
        # the current table by one path each, so this is the RSS with a minimal history.
        q = run([rb, "--socket", sock, "churn", "--routes", str(n), "--changes", "32", "--seed", "7"], timeout=600)
        time.sleep(1.5)
        row["history_small"] = self.mem_sample(p.pid)
        row["history_small_ok"] = q.returncode == 0
        PROCS.stop(p)
        return row

    def nginx_mem_conf(self, d, port, map_file, n):
        ups, head = self.nginx_upstreams(), self.nginx_head(d)
        # map_hash_max_size: at least one bucket per hostname, so nginx builds the hash at the size
        # it is given instead of searching (it starts 1,000 below the maximum when that is large);
        # map_hash_bucket_size 128: room for the colliding names of a bucket at that load.
        max_size = max(2048, n + n // 4)
        return f"""# generated by bench/bench.py (g) memory
{head}  proxy_buffering off;
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host $http_host;
  map_hash_max_size {max_size};
  map_hash_bucket_size 128;
  map $host $app {{
    hostnames;
    default "";
    include {map_file};
  }}
{ups}  server {{
    listen 127.0.0.1:{port} backlog=4096 deferred default_server;
    server_name _;
    location / {{
      if ($app = "") {{ return 404 "no route for host\\n"; }}
      proxy_pass http://app_$app;
    }}
  }}
}}
"""

    def mem_nginx(self, n):
        d = os.path.join(self.tmp, f"mem-nginx-{n}")
        os.makedirs(d, exist_ok=True)
        port = free_port()
        map_file = os.path.join(d, "hosts.map.conf")
        with open(map_file, "w") as f:
            f.write("a.test a;\nbig.test big;\n")
            f.writelines(f"h{i}.r.test a;\n" for i in range(n))
        write_atomic(os.path.join(d, "nginx.conf"), self.nginx_mem_conf(d, port, map_file, n))
        t0 = time.time()
        p = PROCS.spawn(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e", os.path.join(d, "error.log")],
                        cpu=PROXY_CPU, log_path=os.path.join(d, "stderr.log"))
        return self.mem_peer("nginx", n, p, port, d, t0)

    def mem_haproxy(self, n):
        d = os.path.join(self.tmp, f"mem-haproxy-{n}")
        os.makedirs(d, exist_ok=True)
        port = free_port()
        with open(os.path.join(d, "hosts.map"), "w") as f:
            f.write("a.test be_a\nbig.test be_big\n")
            f.writelines(f"h{i}.r.test be_a\n" for i in range(n))
        hd = os.path.join(self.tmp, "haproxy")
        text = self.haproxy_conf(bufsize=0).replace(f"127.0.0.1:{self.ports['haproxy']}", f"127.0.0.1:{port}") \
            .replace(hd + "/", d + "/")
        cfg = os.path.join(d, "haproxy.cfg")
        write_atomic(cfg, text)
        t0 = time.time()
        p = PROCS.spawn(["haproxy", "-W", "-f", cfg], cpu=PROXY_CPU, log_path=os.path.join(d, "stderr.log"))
        return self.mem_peer("haproxy", n, p, port, d, t0)

    def mem_peer(self, name, n, p, port, d, t0):
        row = dict(proxy=name, routes=n)
        if not self.wait_http(p, port, "a.test", 600):
            row["failed"] = f"did not answer 200 for a.test (see {d})"
            PROCS.stop(p)
            return row
        row["start_seconds"] = time.time() - t0
        time.sleep(0.5)
        row["start"] = self.mem_sample(p.pid)
        if n:
            row["wrk"] = self.mem_wrk(port, n)
            row["after_wrk"] = self.mem_sample(p.pid)
        else:
            row["after_wrk"] = row["start"]
        PROCS.stop(p)
        return row

    def memory(self):
        """(g) memory: RSS per route of turnout, nginx and HAProxy holding the same hostnames."""
        out = self.results.setdefault("scale_memory", {"rows": []})
        rows = out["rows"]
        log("  (g) memory: baselines with the tiny table")
        for name, fn in (("turnout", lambda: self.mem_turnout(0, True, False)), ("nginx", lambda: self.mem_nginx(0)),
                         ("haproxy", lambda: self.mem_haproxy(0))):
            rows.append(fn())
            r = rows[-1]
            log(f"  (g) memory {name} tiny: {r.get('failed') or str(r['start']['rss_kib'] // 1024) + ' MiB'}")
        for n in self.args.routes_memory:
            variants = [("turnout", lambda: self.mem_turnout(n, False, False)),
                        ("nginx", lambda: self.mem_nginx(n)), ("haproxy", lambda: self.mem_haproxy(n))]
            if self.args.memory_paths:
                variants.append(("turnout +10% paths", lambda: self.mem_turnout(n, False, True)))
            for name, fn in variants:
                r = fn()
                rows.append(r)
                if r.get("failed") or r.get("skipped"):
                    log(f"  (g) memory {name} at {n:,}: {r.get('failed') or 'skipped: ' + r['skipped']}")
                    continue
                extra = (f", history of single changes {r['history_small']['rss_kib'] / 1024:.0f} MiB"
                         if "history_small" in r else "")
                log(f"  (g) memory {name} at {n:,}: ready in {r.get('load_seconds', r['start_seconds']):.1f} s, "
                    f"RSS {(r.get('loaded') or r['start'])['rss_kib'] / 1024:.0f} MiB, after wrk "
                    f"{r['after_wrk']['rss_kib'] / 1024:.0f} MiB ({r['wrk']['rps']:.0f} req/s, errors "
                    f"{r['wrk']['errors']}){extra}")

    # ---------------------------------------------------------------- profile (turnout in a and b)
    def profile(self):
        """perf (cpu-clock sampling; this VM has no hardware counters) on turnout in (a) and (b), plus
        syscalls per request of every proxy from the syscall tracepoints. Writes results/profile.md."""
        secs = self.args.duration
        L = [f"# Profile of turnout in (a) and (b) — {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC\n",
             f"`perf record -e cpu-clock -F 5000 -g -p <turnout>` during a {secs} s wrk run (same setup and pinning "
             "as latest.md: one worker on CPU 0; wrk and backends on CPU 1). cpu-clock sampling because this VM "
             "exposes no hardware counters (`perf stat -e instructions` is unsupported). Syscalls per request: "
             "`perf stat -e raw_syscalls:sys_enter -e syscalls:sys_enter_<name>` on each proxy's serving process "
             "during a separate run.\n"]
        calls = ["read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg", "epoll_wait",
                 "epoll_pwait", "epoll_ctl", "accept4", "connect", "socket", "close", "shutdown", "setsockopt",
                 "getsockopt", "getsockname", "getpeername", "ioctl", "fcntl", "futex", "mmap", "munmap", "brk",
                 "madvise", "splice"]
        for scen in ("a", "b"):
            title, host, extra, conns = LOAD_SCENARIOS[scen]
            L.append(f"## ({scen}) {title}, {conns} connections\n")
            # syscalls per request, every proxy
            table = {}
            for proxy in PROXIES:
                self.ensure_up(proxy)
                pids = ",".join(str(x) for x in self.serving_pids(proxy))
                ev = ["-e", "raw_syscalls:sys_enter"] + sum((["-e", f"syscalls:sys_enter_{c}"] for c in calls), [])
                stat_out = os.path.join(self.tmp, f"perfstat-{proxy}-{scen}.txt")
                ps = PROCS.spawn(["perf", "stat", "-x", ",", "-o", stat_out] + ev + ["-p", pids],
                                 log_path=os.path.join(self.tmp, "perf.log"))
                time.sleep(0.3)
                r = wrk(self.ports[proxy], min(secs, 5), conns, host, extra)
                ps.send_signal(signal.SIGINT)
                ps.wait(60)
                PROCS.live.remove(ps)
                counts = {}
                with open(stat_out) as f:
                    for line in f:
                        parts = line.strip().split(",")
                        if len(parts) > 2 and parts[0].isdigit():
                            counts[parts[2].split(":")[-1].replace("sys_enter_", "")] = int(parts[0])
                table[proxy] = {k: v / max(r["requests"], 1) for k, v in counts.items()}
            rows = [c for c in ["sys_enter"] + calls if any(table[p].get(c, 0) >= 0.005 for p in PROXIES)]
            L.append("Syscalls per request (`sys_enter` = all syscalls):\n")
            L.append("| syscall | " + " | ".join(PROXIES) + " |")
            L.append("|---|" + "---:|" * len(PROXIES))
            for c in rows:
                name = "**all**" if c == "sys_enter" else c
                L.append(f"| {name} | " + " | ".join(f"{table[p].get(c, 0):.2f}" for p in PROXIES) + " |")
            # perf record of turnout
            self.ensure_up("turnout")
            pid = self.proxies["turnout"].pid
            data = os.path.join(self.tmp, f"perf-{scen}.data")
            rec = PROCS.spawn(["perf", "record", "-e", "cpu-clock", "-F", "5000", "-g", "-p", str(pid), "-o", data],
                              log_path=os.path.join(self.tmp, "perf.log"))
            time.sleep(0.5)
            cpu0 = tree_cpu(pid)
            r = wrk(self.ports["turnout"], secs, conns, host, extra)
            cpu = tree_cpu(pid) - cpu0
            rec.send_signal(signal.SIGINT)
            rec.wait(120)
            PROCS.live.remove(rec)

            def report(*extra_args):
                out = run(["perf", "report", "-i", data, "--stdio", "--no-children", "-g", "none"] + list(extra_args),
                          timeout=900).stdout
                return [re.sub(r"\s+-\s+-$", "", l.rstrip()) for l in out.splitlines()
                        if l.strip() and not l.startswith("#")]
            L.append(f"\nturnout under perf: {r['rps']:,.0f} req/s, {cpu * 1e6 / max(r['requests'], 1):.1f} CPU µs/request "
                     "(perf adds some).\n")
            L.append("By binary (self time):\n\n```")
            L += report("--sort", "dso")[:8]
            L.append("```\n\nTop symbols, user space and kernel (self time):\n\n```")
            L += report("--sort", "dso,symbol", "--percent-limit", "0.8")[:30]
            L.append("```\n\nInclusive time per syscall (kernel entry points, children included):\n\n```")
            L += [l for l in (re.sub(r"\s+-\s+-$", "", x.rstrip()) for x in run(
                ["perf", "report", "-i", data, "--stdio", "--children", "--sort", "symbol", "-g", "none"],
                timeout=900).stdout.splitlines()) if re.search(r"\[k\] (__sys_\w+|ksys_\w+|do_writev|do_readv|do_epoll_wait|do_epoll_ctl|"
                                        r"__x64_sys_(close|shutdown|epoll_ctl)|do_syscall_64)$", l)][:14]
            L.append("```\n\nTop user-space symbols (what turnout's code and its libraries cost):\n\n```")
            L += [l for l in report("--sort", "dso,symbol", "--percent-limit", "0.05") if "[.]" in l][:30]
            L.append("```\n")
            log(f"  profiled ({scen}): {r['rps']:.0f} req/s under perf")
        path = os.path.join(self.args.out, "profile.md")
        with open(path, "w") as f:
            f.write("\n".join(L) + "\n")
        log(f"  wrote {path}")


def parse_kv(line):
    out = {}
    for k, v in re.findall(r"(\w+)=([\d.]+)", line):
        out[k] = float(v) if "." in v else int(v)
    return out


def human(n):
    return f"{n // 1000000}M" if n >= 1000000 and n % 1000000 == 0 else f"{n // 1000}k" if n >= 1000 else str(n)


def fmt_ms(v):
    if v is None:
        return "–"
    return f"{v * 1000:.0f} µs" if v < 1 else f"{v:.2f} ms" if v < 100 else f"{v:.0f} ms"


def fmt_num(v, digits=0):
    return "–" if v is None else f"{v:,.{digits}f}"


# ---------------------------------------------------------------- report

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(results):
    s = {}
    for r in results["runs"]:
        if r["requests"] > 0:  # a run with no request completed measured nothing (see the log)
            s.setdefault((r["scenario"], r["target"]), []).append(r)
    out = {}
    for key, rs in s.items():
        out[key] = dict(
            rps=median([r["rps"] for r in rs]), rps_min=min(r["rps"] for r in rs), rps_max=max(r["rps"] for r in rs),
            p50=median([r["p50_ms"] for r in rs]), p99=median([r["p99_ms"] for r in rs]),
            cpu=median([r["cpu_us_per_req"] for r in rs]), rss=max(r["rss_kib"] for r in rs) / 1024,
            proxy_busy=median([r.get("proxy_busy_pct") for r in rs]),
            load_busy=median([r.get("load_cpu_busy_pct") for r in rs]),
            errors=sum(r["errors"] for r in rs), requests=sum(r["requests"] for r in rs), rounds=len(rs))
    return out


# What would make turnout lead where a run finds it level with or behind a peer (the closing
# note of latest.md): where its CPU per request goes in that scenario, from results/profile.md.
LEAD_HINTS = {
    "a": "most of the CPU per request is the kernel's (the bare TCP relay floor); fewer syscalls per "
         "request (one writev for head and body, reading the next request without a wake-up) is the lever",
    "b": "connection setup is kernel work for every proxy; with TCP_DEFER_ACCEPT the request is already "
         "readable at accept, so reading it at once instead of waiting for the first epoll wake-up, and "
         "fewer epoll_ctl calls per connection, would cut turnout's syscalls per request",
    "c": "64 KiB bodies are copied through user space; a larger read for large bodies, or splice() "
         "between the sockets, would cut the copies and syscalls per response",
    "d": "uploads are copied through user space in 64 KiB reads; HAProxy with 64 KiB buffers does the same "
         "work. splice() (zero-copy through a pipe) or larger reads for large bodies would make turnout lead",
}
PARITY = 0.05  # within 5%: level


def not_leading(s):
    """[(scenario, peer, what)] where turnout's median ratio is not better than the peer by PARITY."""
    out = []
    for scen in LOAD_SCENARIOS:
        t = s.get((scen, "turnout"))
        for peer in ("nginx", "haproxy"):
            o = s.get((scen, peer))
            if not (t and o):
                continue
            rr, cr = ratio(t["rps"], o["rps"]), ratio(t["cpu"], o["cpu"])
            what = []
            if rr is not None and rr < 1 + PARITY:
                what.append(f"req/s {fmt_ratio(rr)}")
            if cr is not None and cr > 1 - PARITY:
                what.append(f"CPU/req {fmt_ratio(cr)}")
            if what:
                out.append((scen, peer, ", ".join(what)))
    return out


RATIO_METRICS = (("rps", "req/s"), ("cpu_us_per_req", "CPU/req"), ("p99_ms", "p99"))


def round_ratios(results):
    """{scenario: {"<metric> ÷ <peer>": [turnout ÷ peer in round 1, round 2, ...]}}: each round's
    targets ran back to back, so a round's ratio is the least disturbed by the machine's load
    shifting between rounds. None where either run completed no request."""
    by = {}
    for r in results["runs"]:
        by[(r["scenario"], r["target"], r["round"])] = r if r["requests"] > 0 else None
    rounds = sorted({r["round"] for r in results["runs"]})
    out = {}
    for scen in LOAD_SCENARIOS:
        if not any(k[0] == scen for k in by):
            continue
        rows = {}
        for key, label in RATIO_METRICS:
            for peer in ("nginx", "haproxy"):
                vals = []
                for rnd in rounds:
                    t, o = by.get((scen, "turnout", rnd)), by.get((scen, peer, rnd))
                    vals.append(ratio(t[key], o[key]) if t and o else None)
                rows[f"{label} ÷ {peer}"] = vals
            if any(k[1] == BASE for k in by):
                vals = []
                for rnd in rounds:
                    t, o = by.get((scen, "turnout", rnd)), by.get((scen, BASE, rnd))
                    vals.append(ratio(t[key], o[key]) if t and o else None)
                rows[f"{label} ÷ baseline"] = vals
        out[scen] = rows
    return out


def fmt_pct(v):
    return "–" if v is None else f"{v:.0f}%"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def fmt_ratio(v):
    return "–" if v is None else f"{v:.2f}×"


def versions_of_binary(path):
    p = run([path, "--version"])
    out = (p.stdout + p.stderr).strip()
    built = datetime.datetime.utcfromtimestamp(os.path.getmtime(path)).strftime("%Y-%m-%d %H:%M UTC")
    return f"{out.splitlines()[0] if out else '?'} ({path}, built {built})"


def versions(build):
    def first(cmd):
        p = run(cmd)
        return (p.stdout + p.stderr).strip().splitlines()[0] if (p.stdout + p.stderr).strip() else "?"
    return {
        "turnout": first([os.path.join(build, "turnout"), "--version"]),
        "nginx": first(["nginx", "-v"]),
        "haproxy": first(["haproxy", "-v"]),
        "wrk": first(["wrk", "-v"]),
        "kernel": platform.release(),
        "libuv": run(["pkg-config", "--modversion", "libuv"]).stdout.strip() or "?",
        "turnout_built": datetime.datetime.utcfromtimestamp(os.path.getmtime(os.path.join(build, "turnout")))
        .strftime("%Y-%m-%d %H:%M UTC"),
    }


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return f"{model}, {os.cpu_count()} CPUs, {mem / 1024:.0f} GiB RAM, Linux {platform.release()}"


def target_label(t):
    return {"turnout": "**turnout**", "direct": "direct (backend)", FLOOR: "floor: TCP relay, no HTTP",
            BASE: "turnout, baseline binary"}.get(t, t)


def routing_pairs(scale):
    """{n routes: (median CPU µs/req at 1k routes, median at n)} over the interleaved rounds."""
    out = {}
    for n in sorted({r["versus"] for r in scale.get("routing", []) if "versus" in r}):
        rs = [r for r in scale["routing"] if r.get("versus") == n and r["cpu_us_per_req"] is not None]
        out[n] = (median([r["cpu_us_per_req"] for r in rs if r["routes"] == 1000]),
                  median([r["cpu_us_per_req"] for r in rs if r["routes"] == n]))
    return out


def targets_check(s, results):
    """Issue #4's targets, met or not, from this run."""
    rows = []

    def best(scen, key, lower):
        vals = [s.get((scen, p), {}).get(key) for p in ("nginx", "haproxy")]
        vals = [v for v in vals if v is not None]
        return (min(vals) if lower else max(vals)) if vals else None

    for scen in ("a", "b"):
        if (scen, "turnout") not in s:
            continue
        t = s[(scen, "turnout")]
        bc, br, bp = best(scen, "cpu", True), best(scen, "rps", False), best(scen, "p99", True)
        floor = s.get((scen, FLOOR), {}).get("cpu")
        floor_note = f" (floor: the bare TCP relay is {fmt_ratio(ratio(floor, bc))})" if floor else ""
        rows.append((f"({scen}) CPU/request ≤ 0.7× best of nginx/HAProxy", f"{fmt_ratio(ratio(t['cpu'], bc))}{floor_note}",
                     t["cpu"] is not None and bc is not None and t["cpu"] <= 0.7 * bc))
        rows.append((f"({scen}) requests/s ≥ 1.1× best", fmt_ratio(ratio(t["rps"], br)), br is not None and t["rps"] >= 1.1 * br))
        rows.append((f"({scen}) p99 no worse than best", f"{fmt_ms(t['p99'])} vs {fmt_ms(bp)}",
                     t["p99"] is not None and bp is not None and t["p99"] <= bp))
    for scen in ("c", "d"):
        if (scen, "turnout") in s:
            br = best(scen, "rps", False)
            t = s[(scen, "turnout")]
            rows.append((f"({scen}) throughput ≥ best", fmt_ratio(ratio(t["rps"], br)), br is not None and t["rps"] >= br))
    idle = {}
    for r in results["idle"]:
        idle.setdefault(r["target"], []).append(r["kib_per_conn"])
    if "turnout" in idle and "nginx" in idle:
        t, n = median(idle["turnout"]), median(idle["nginx"])
        rows.append(("(e) memory per idle connection ≤ nginx", f"{fmt_num(t, 2)} vs {fmt_num(n, 2)} KiB",
                     t is not None and n is not None and t <= n))
    tf = [r for r in results["remap"] if r["proxy"] == "turnout"]
    if any(r["requests"] == 0 for r in tf):
        rows.append(("(f) zero failed requests for turnout", "not measured: a run completed no request", False))
    elif tf:
        fails = sum(r["errors"] for r in tf)
        rows.append(("(f) zero failed requests for turnout", f"{fails} failed", fails == 0))
    # Issue #3's scale figures: pinned to one CPU, in memory (a state_file adds an fdatasync).
    scale = results.get("scale") or {}
    for st in scale.get("stages", []):
        if st.get("state_file") or not st.get("pinned", True) or st.get("p99_us") is None:
            continue
        n = human(st["routes"])
        p99, cps = float(st["p99_us"]), float(st.get("changes_per_s") or 0)
        rows.append((f"(g) {n} routes: change acknowledged at p99 < 1 ms", f"{p99 / 1000:.2f} ms", p99 < 1000))
        rows.append((f"(g) {n} routes: ≥ 5,000 acknowledged changes/s", f"{cps:,.0f}/s", cps >= 5000))
    routing = routing_pairs(scale)
    n = max(routing) if routing else None
    small, large = routing[n] if n else (None, None)
    if small and large:
        rows.append((f"(g) routing cost at {human(n)} routes ≈ at 1k (within 15%)",
                     f"{large:.1f} vs {small:.1f} µs/req", large <= 1.15 * small))
    return rows


def memory_rows(res):
    """(g) memory: {routes: {label: row}} and the tiny-table baselines {proxy: row}."""
    rows = (res.get("scale_memory") or {}).get("rows", [])
    tiny = {r["proxy"]: r for r in rows if r.get("routes") == 0 and "failed" not in r}
    by = {}
    for r in rows:
        if r.get("routes"):
            label = r["proxy"] + (" +10% paths" if r.get("paths") else "")
            by.setdefault(r["routes"], {})[label] = r
    return by, tiny


def mem_per_route(r, tiny, stage="after_wrk", key="rss_kib"):
    """Bytes per route of `stage` above the same proxy's tiny-table RSS (or PSS)."""
    t = tiny.get(r["proxy"])
    if t is None or stage not in r or r.get("routes") in (None, 0):
        return None
    n = r["routes"] + r.get("path_routes", 0)
    return (r[stage][key] - t["after_wrk"][key]) * 1024 / n


def render_memory(res, L):
    by, tiny = memory_rows(res)
    if not by:
        return
    meta = res.get("scale_memory", {})
    L.append("\n## (g) memory: the same hostnames in turnout, nginx and HAProxy\n")
    v = meta.get("versions") or {}
    vs = (f"Versions of that run: {v.get('turnout')} (built {v.get('turnout_built')}), "
          f"{str(v.get('nginx', '')).replace('nginx version: ', '')}, "
          f"{' '.join(str(v.get('haproxy', '')).split()[:3])}. ") if v else ""
    L.append(f"{meta.get('note', '')}{vs}Hostnames `h<i>.r.test` → app `a`, the same set in each proxy, one worker each "
             "(turnout `workers: 1`; nginx `worker_processes 1`; HAProxy `nbthread 1`). turnout loads them with "
             "`POST /v1/batch` (10,000 per batch) into a running instance and keeps its rollback history (the last 32 "
             "versions; there is no setting); nginx reads a `map $host $app { hostnames; … }` and HAProxy a map file "
             "(`map(hosts.map)`) at start, so their *ready in* is the start until the first 200. RSS is "
             "VmRSS; nginx and HAProxy run a master and a worker that share the parsed configuration "
             "copy-on-write, so their sum counts those pages twice and PSS (proportional set size) counts them once. "
             "*After wrk*: after a wrk run over random hosts of the table (`lua/random_host.lua`, 50 conns). "
             "Bytes/route = (RSS − the same proxy's RSS with the 2-host table of (a)–(f)) ÷ routes, after wrk; the "
             "same with PSS; ratios are turnout's bytes/route ÷ the peer's, by RSS (the peers' master + worker "
             "sum) and by PSS.\n")
    L.append("| routes | proxy | ready in | RSS loaded | RSS after wrk (master + worker) | PSS after wrk | "
             "bytes/route (RSS) | bytes/route (PSS) | turnout ÷ it (RSS / PSS) | wrk req/s |")
    L.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    mib = lambda kib: f"{kib / 1024:,.0f} MiB"
    for n, rs in sorted(by.items()):
        t = rs.get("turnout")
        t_pr = mem_per_route(t, tiny) if t and "failed" not in t else None
        for label in ("turnout", "turnout +10% paths", "nginx", "haproxy"):
            r = rs.get(label)
            if r is None:
                continue
            name = {"haproxy": "HAProxy"}.get(label, label)
            if r.get("failed") or r.get("skipped"):
                L.append(f"| {n:,} | {name} | {'skipped: ' + r['skipped'] if r.get('skipped') else 'failed: ' + r['failed']} "
                         f"| | | | | | | |")
                continue
            ready = r.get("load_seconds", r.get("start_seconds"))
            loaded = r.get("loaded") or r["start"]
            aw = r["after_wrk"]
            parts = " + ".join(mib(p["rss_kib"]) for p in aw["procs"])
            pr, pp = mem_per_route(r, tiny), mem_per_route(r, tiny, key="pss_kib")
            t_pp = mem_per_route(t, tiny, key="pss_kib") if t and "failed" not in t else None
            rat = "" if label.startswith("turnout") else f"{fmt_ratio(ratio(t_pr, pr))} / {fmt_ratio(ratio(t_pp, pp))}"
            L.append(f"| {n:,} | {name} | {ready:.1f} s | {mib(loaded['rss_kib'])} | {mib(aw['rss_kib'])}"
                     f"{' (' + parts + ')' if len(aw['procs']) > 1 else ''} | {mib(aw['pss_kib'])} | "
                     f"{fmt_num(pr)} | {fmt_num(pp)} | {rat} | {fmt_num(r['wrk']['rps'])} |")
            if "history_small" in r:
                hs = r["history_small"]
                L.append(f"| {n:,} | {name}, history of 32 single changes | | | {mib(hs['rss_kib'])} | "
                         f"{mib(hs['pss_kib'])} | {fmt_num(mem_per_route(r, tiny, 'history_small'))} | "
                         f"{fmt_num(mem_per_route(r, tiny, 'history_small', 'pss_kib'))} | | |")
    L.append("\n*History of 32 single changes*: the same turnout after 32 one-route changes (`remap_bench churn`) pushed "
             "the load's batches out of the kept versions; what it frees is what the history of a bulk load costs "
             "(RSS falls only as far as malloc returns the freed pages). Tiny-table RSS: " +
             ", ".join(f"{'HAProxy' if k == 'haproxy' else k} {v['start']['rss_kib'] / 1024:.1f} MiB"
                       for k, v in sorted(tiny.items())) +
             ". Where turnout's bytes go: `results/route-memory.md`.")


def write_report(b, s, path_md, started, finished, load_start, load_end):
    res, args = b.results, b.args
    if any(r["target"] == BASE for r in res["runs"]) and BASE not in LOAD_TARGETS:  # --report-only
        LOAD_TARGETS.insert(LOAD_TARGETS.index("turnout") + 1, BASE)
    v = res["versions"]
    loads = [r["loadavg"] for r in res["runs"]] or [0]
    L = []
    L.append(f"# turnout vs nginx vs HAProxy — {finished:%Y-%m-%d %H:%M} UTC\n")
    L.append("![requests/s and CPU per request, per scenario and proxy](latest.png)\n")
    L.append(f"- **Machine:** {machine()}")
    nginx_v = v["nginx"].replace("nginx version: nginx/", "nginx ")
    haproxy_v = re.sub(r"^HAProxy version (\S+).*", r"HAProxy \1", v["haproxy"])
    wrk_v = re.sub(r"^wrk (?:debian/)?(\S+).*", r"wrk \1", v["wrk"])
    built = v.get("turnout_built", "")
    L.append(f"- **Versions:** {v['turnout']} (Release build{', binary of ' + built if built else ''}); {nginx_v}; {haproxy_v}; {wrk_v}; "
             f"libuv {v.get('libuv', '?')}")
    L.append(f"- **Pinning:** each proxy (one worker/thread: turnout `workers: 1`, nginx `worker_processes 1`, "
             f"HAProxy `nbthread 1`) on CPU {PROXY_CPU}; wrk (`-t1`), the backends and every helper on CPU {LOAD_CPU} "
             f"(`taskset`). The direct baseline has no proxy: wrk → one backend.")
    L.append(f"- **Run:** {args.rounds} rounds of (a)–(d), {getattr(args, 'other_rounds', args.rounds)} of (e), (f) and "
             f"(g)'s routing cost; targets interleaved (order rotated each round), "
             f"{args.duration} s per wrk run, remaps {args.remap_duration} s; started {started:%H:%M:%S}, "
             f"took {(finished - started).total_seconds() / 60:.1f} min.")
    L.append(f"- **Machine load:** shared with other engineers compiling — load average {load_start:.2f} at start, "
             f"{load_end:.2f} at the end, {min(loads):.2f}–{max(loads):.2f} at the start of the runs. "
             f"CPU µs/request is measured on the proxy's own CPU time and is the figure least disturbed by this.")
    bs = getattr(args, "haproxy_bufsize", "default")
    bs_text = ("`tune.bufsize 65536` in (d) only (it costs (c))" if bs == "auto" else
               "its default `tune.bufsize`" if bs == "default" else f"`tune.bufsize {bs}` everywhere")
    L.append(f"- **Peers as experts would run them** (bench/README.md gives each setting's reason): nginx "
             f"`listen … deferred`, `multi_accept on`, `proxy_buffering off` + `proxy_buffer_size 64k`, "
             f"`proxy_request_buffering off`, upstream `keepalive {UPSTREAM_POOL}`; HAProxy `bind … defer-accept`, "
             f"`tune.maxaccept 64`, `http-reuse always`, {bs_text}; turnout defaults (TCP_DEFER_ACCEPT, "
             f"64 accepts per wake-up, 64 KiB reads, unbounded idle upstream pool).")
    L.append(f"- **Backends:** `turnout-backend` (libuv, fixed response, 1 thread each): {SMALL_BYTES} B bodies for "
             f"a.test (2 servers), 64 KiB for big.test (2 servers); Host routing and round-robin in every proxy; "
             f"access logs off; X-Forwarded-For/-Proto/-Host and Via added by all three.\n")

    L.append("## Load scenarios (a–d)\n")
    L.append("CPU µs/req = proxy utime+stime (all its processes, from /proc) over the run ÷ requests completed. "
             "RSS = VmRSS of the serving process (turnout; the nginx/HAProxy worker) after the run. "
             "Errors = wrk socket errors + non-2xx, summed over rounds. "
             f"Busy = the proxy's CPU time ÷ wall time (100% = one core saturated), and how busy CPU {LOAD_CPU} "
             "(wrk and the backends) was, from /proc/stat: where the load CPU is saturated and the proxy is not, "
             "requests/s measures the load side rather than the proxy.\n")
    L.append("| scenario | target | req/s median (min–max) | p50 | p99 | CPU µs/req | busy: proxy / load CPU | RSS MiB | errors |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for scen, (title, host, extra, conns) in LOAD_SCENARIOS.items():
        for t in LOAD_TARGETS:
            x = s.get((scen, t))
            if not x:
                continue
            tput = ""
            if scen == "c":
                tput = f" = {x['rps'] * BIG_BYTES / 2**20:,.0f} MiB/s"
            if scen == "d":
                tput = f" = {x['rps'] * UPLOAD_BYTES / 2**20:,.0f} MiB/s"
            name = target_label(t)
            L.append(f"| ({scen}) {title}, {conns} conns | {name} | {x['rps']:,.0f} ({x['rps_min']:,.0f}–{x['rps_max']:,.0f}){tput} "
                     f"| {fmt_ms(x['p50'])} | {fmt_ms(x['p99'])} | {fmt_num(x['cpu'], 1)} "
                     f"| {fmt_pct(x['proxy_busy'])} / {fmt_pct(x['load_busy'])} | {x['rss']:.1f} | {x['errors']} |")
    L.append("\nDirect row: CPU, busy (proxy column) and RSS are the backend's, for scale. Floor row, (a) only: "
             "`bench/tcp_relay` on CPU 0 pairs each client connection with its own backend connection and copies "
             "bytes both ways (one read and one write per message, epoll; no HTTP parsing, routing, header rewriting "
             "or pooling). Its CPU per request is what the kernel charges any user-space proxy for the same bytes "
             "over loopback TCP: no proxy's CPU µs/req in (a) can be lower.\n")
    L.append("### Ratios (turnout ÷ other; req/s higher is better, CPU and p99 lower is better)\n")
    L.append("| scenario | req/s ÷ nginx | req/s ÷ HAProxy | CPU/req ÷ nginx | CPU/req ÷ HAProxy | p99 ÷ nginx | p99 ÷ HAProxy |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for scen in LOAD_SCENARIOS:
        t, n, h = s.get((scen, "turnout")), s.get((scen, "nginx")), s.get((scen, "haproxy"))
        if not (t and n and h):
            continue
        L.append(f"| ({scen}) | {fmt_ratio(ratio(t['rps'], n['rps']))} | {fmt_ratio(ratio(t['rps'], h['rps']))} | "
                 f"{fmt_ratio(ratio(t['cpu'], n['cpu']))} | {fmt_ratio(ratio(t['cpu'], h['cpu']))} | "
                 f"{fmt_ratio(ratio(t['p99'], n['p99']))} | {fmt_ratio(ratio(t['p99'], h['p99']))} |")
    if any((scen, BASE) in s for scen in LOAD_SCENARIOS):
        L.append("\n### This binary ÷ the baseline binary\n")
        L.append(f"The baseline is `{res['versions'].get('baseline', args.baseline)}`, run as one more target in "
                 "the same rounds on the same backends. A change that is not meant to cost anything keeps "
                 "(a) and (b) CPU per request within 3% of the baseline and (c), (d) requests/s no lower "
                 "(within the run's noise: compare the per-round medians below).\n")
        L.append("| scenario | req/s ÷ baseline | CPU/req ÷ baseline | p99 ÷ baseline | median of per-round CPU/req ratios |")
        L.append("|---|---:|---:|---:|---:|")
        rr_base = round_ratios(res)
        for scen in LOAD_SCENARIOS:
            t, o = s.get((scen, "turnout")), s.get((scen, BASE))
            if not (t and o):
                continue
            per_round = median(rr_base.get(scen, {}).get("CPU/req ÷ baseline", [None]))
            L.append(f"| ({scen}) | {fmt_ratio(ratio(t['rps'], o['rps']))} | {fmt_ratio(ratio(t['cpu'], o['cpu']))} | "
                     f"{fmt_ratio(ratio(t['p99'], o['p99']))} | {fmt_ratio(per_round)} |")
    rr = round_ratios(res)
    if rr:
        nr = max(len(v) for rows in rr.values() for v in rows.values())
        L.append("\n### Ratios per round (turnout ÷ other, the same round)\n")
        L.append("Each round runs every target back to back, so a round's ratio is the least disturbed by the "
                 "machine's load moving between rounds. *Of medians* is the table above; *median* is the median "
                 "of the per-round ratios.\n")
        L.append("| scenario | ratio | of medians | median | " + " | ".join(f"round {i + 1}" for i in range(nr)) + " |")
        L.append("|---|---|---:|---:|" + "---:|" * nr)
        keys = {"req/s": "rps", "CPU/req": "cpu", "p99": "p99"}
        for scen, rows in rr.items():
            for name, vals in rows.items():
                label, peer = name.split(" ÷ ")
                t, o = s.get((scen, "turnout")), s.get((scen, BASE if peer == "baseline" else peer))
                of_medians = ratio(t[keys[label]], o[keys[label]]) if t and o else None
                L.append(f"| ({scen}) | {label} ÷ {'HAProxy' if peer == 'haproxy' else peer} | {fmt_ratio(of_medians)} | "
                         f"{fmt_ratio(median(vals))} | " + " | ".join(fmt_ratio(v) for v in vals) + " |")

    if res["idle"]:
        L.append(f"\n## (e) {args.idle_conns:,} idle keep-alive client connections\n")
        L.append("Each client connection sent one request, read the response and stays open. A fresh proxy process "
                 "per measurement; RSS of the serving process before and 1 s after all are open. Kernel socket "
                 "buffers are not in RSS.\n")
        L.append("| target | KiB per idle conn, median (min–max) | RSS before → with conns (MiB) | open / failed | closed by proxy |")
        L.append("|---|---:|---:|---:|---:|")
        for t in TARGETS:
            rs = [r for r in res["idle"] if r["target"] == t]
            if not rs:
                continue
            k = [r["kib_per_conn"] for r in rs if r["kib_per_conn"] is not None]
            last = rs[-1]
            name = target_label(t)
            L.append(f"| {name} | {fmt_num(median(k), 2)} ({fmt_num(min(k) if k else None, 2)}–{fmt_num(max(k) if k else None, 2)}) | "
                     f"{last['rss_before_kib'] / 1024:.1f} → {last['rss_after_kib'] / 1024:.1f} | "
                     f"{sum(r['ok'] for r in rs) // len(rs):,} / {sum(r['failed'] for r in rs)} | "
                     f"{sum(r['closed_by_peer'] or 0 for r in rs)} |")

    if res["remap"]:
        L.append(f"\n## (f) remaps under load: a change every 0.5 s while wrk runs {args.remap_duration} s (50 keep-alive conns)\n")
        L.append("Failed = wrk socket errors (connect/read/write/timeout) + non-2xx responses, summed over rounds.\n")
        L.append("| change | rounds | changes (rejected) | requests | **failed requests** | failed per change | req/s median | change latency p50 |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        by = {}
        for r in res["remap"]:
            by.setdefault(r["variant"], []).append(r)
        for variant, rs in by.items():
            if any(r["requests"] == 0 for r in rs):
                L.append(f"| {variant} | {len(rs)} | no data: {sum(r['requests'] == 0 for r in rs)} run(s) completed "
                         f"no request (proxy down?) | | | | | |")
                continue
            ch = sum(r["changes"] for r in rs)
            fails = sum(r["errors"] for r in rs)
            detail = "; ".join(f"{k} {sum(r.get('socket_detail', {}).get(k, 0) for r in rs)}"
                               for k in ("connect", "read", "write", "timeout")
                               if sum(r.get("socket_detail", {}).get(k, 0) for r in rs))
            non2 = sum(r["non2xx"] for r in rs)
            why = ", ".join(x for x in (detail, f"non-2xx {non2}" if non2 else "") if x)
            L.append(f"| {variant} | {len(rs)} | {ch} ({sum(r['changes_failed'] for r in rs)}) | "
                     f"{sum(r['requests'] for r in rs):,} | **{fails}**{' (' + why + ')' if why else ''} | "
                     f"{fails / ch if ch else 0:.2f} | {median([r['rps'] for r in rs]):,.0f} | "
                     f"{fmt_ms(median([r['change_p50_ms'] for r in rs]))} |")
        L.append("\nChange latency includes starting the client (`nginx -s reload`, `turnout ctl`); the HAProxy "
                 "runtime-API row alternates blue/green `set server … state` with `add server` + `enable server`.")

    sc = res.get("scale") or {}
    if sc.get("stages"):
        L.append("\n## (g) remap scale (turnout only)\n")
        L.append("Routes `h<i>.r.test → a` loaded with `POST /v1/batch` (10,000 maps per batch), then `remap_bench churn`: "
                 "changes applied one at a time over one keep-alive admin connection, `PUT /v1/routes/{host}/a2` "
                 "alternating with `DELETE` of the same; each answer comes after the worker runs the new table. "
                 "Three churns per row, with different hosts: medians, p99 range in brackets. "
                 "Rows marked *state_file* ran on a second turnout with `state_file` set: each change is "
                 "journaled and fsynced before the answer (on this VM's disk). The *unpinned* row ran on a third "
                 "turnout whose threads may use both CPUs (`taskset -c 0,1`; load and helpers still on CPU 1): "
                 "every other row has turnout's main loop and worker sharing CPU 0.\n")
        L.append("| routes | load time (routes/s) | turnout RSS | change p50 | change p99 | change max | changes/s | errors |")
        L.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
        sf = lambda st: (", *state_file*" if st.get("state_file") else "") + \
            (", *unpinned*" if st.get("pinned") is False else "")
        for st in sc["stages"]:
            if "load_failed" in st:
                L.append(f"| {st['routes']:,}{sf(st)} | load failed: {st['load_failed']} | | | | | | |")
                continue
            us = lambda k: "–" if st.get(k) is None else f"{st[k]:,.0f} µs"
            runs = [r for r in st.get("churn_runs", []) if r.get("p99_us") is not None]
            p99 = us("p99_us") + (f" ({min(r['p99_us'] for r in runs):,}–{max(r['p99_us'] for r in runs):,})"
                                  if len(runs) > 1 else "")
            L.append(f"| {st['routes']:,}{sf(st)} | {st['load_seconds']:.1f} s ({fmt_num(st['load_routes_per_s'])}/s) | "
                     f"{st['rss_kib'] / 1024:.0f} MiB | {us('p50_us')} | {p99} | {us('max_us')} | "
                     f"{fmt_num(st.get('changes_per_s'))} | {st.get('errors', '–')} |")
        pairs = routing_pairs(sc)
        if pairs:
            L.append("\nRouting cost: two turnouts, one with 1,000 routes and one with the large table, measured in "
                     "turn for the rounds (order rotated): wrk with `lua/random_host.lua`, a random Host of that "
                     "turnout's table per request (50 keep-alive conns), so the large table's lookups miss the CPU "
                     "caches. CPU µs/request is all of turnout's threads; medians, range in brackets.\n")
            L.append("| routes | turnout CPU µs/req | at 1,000 routes, same rounds | ratio | req/s (large table) | p99 | errors |")
            L.append("|---:|---:|---:|---:|---:|---:|---:|")
            for n, (small, large) in pairs.items():
                rs = [r for r in sc["routing"] if r.get("versus") == n]
                big = [r for r in rs if r["routes"] == n]
                lo = [r["cpu_us_per_req"] for r in rs if r["routes"] == 1000 and r["cpu_us_per_req"] is not None]
                hi = [r["cpu_us_per_req"] for r in big if r["cpu_us_per_req"] is not None]
                rng = lambda v: f" ({min(v):.1f}–{max(v):.1f})" if len(v) > 1 else ""
                L.append(f"| {n:,} | {fmt_num(large, 1)}{rng(hi)} | {fmt_num(small, 1)}{rng(lo)} | "
                         f"{fmt_ratio(ratio(large, small))} | {median([r['rps'] for r in big]):,.0f} | "
                         f"{fmt_ms(median([r['p99_ms'] for r in big]))} | {sum(r['errors'] for r in rs)} |")

    render_memory(res, L)

    if res.get("incidents"):
        L.append("\n## Incidents\n")
        L.append("Proxies that exited during the run (not stopped by the benchmark) and were restarted:\n")
        for i in res["incidents"]:
            L.append(f"- {i['time'][:19]} {i['proxy']}: exit status {i['status']}; last log lines: `{i['log'][:200]}`")
    rows = targets_check(s, res)
    if rows:
        L.append("\n## Issue #4 targets in this run\n")
        L.append("| target | measured | met |")
        L.append("|---|---|:---:|")
        for name, val, ok in rows:
            L.append(f"| {name} | {val} | {'yes' if ok else '**no**'} |")
    behind = not_leading(s)
    if behind:
        L.append("\n## Where turnout does not lead\n")
        L.append(f"Scenarios where turnout's median is not better than a peer's by more than {PARITY:.0%} "
                 "(ratios turnout ÷ peer, of the medians above), and what would make it lead:\n")
        for scen in LOAD_SCENARIOS:
            rows = [(peer, what) for sc, peer, what in behind if sc == scen]
            if rows:
                level = "; ".join(f"{'HAProxy' if p == 'haproxy' else p}: {w}" for p, w in rows)
                L.append(f"- ({scen}) {LOAD_SCENARIOS[scen][0]} — {level}. {LEAD_HINTS[scen][0].upper()}{LEAD_HINTS[scen][1:]}.")
    L.append(f"\nRaw per-run numbers: `latest.json`. Reproduce: `bench/run.sh{' --quick' if args.quick else ''}`.")
    with open(path_md, "w") as f:
        f.write("\n".join(L) + "\n")


def write_chart(b, s, out_dir):
    """Grouped bars a user can read at a glance: per scenario req/s and CPU µs/req, then (e)-(g)."""
    res = b.results
    dd = os.path.join(b.tmp, "chart")
    os.makedirs(dd, exist_ok=True)
    panels = []

    def bars(name, rows, title, ylabel, fmt="%.0f"):
        path = os.path.join(dd, name + ".dat")
        with open(path, "w") as f:
            for label, val, lo, hi, color in rows:
                f.write(f'"{label}" {val} {lo} {hi} {color}\n')
        top = max([r[3] for r in rows] + [r[1] for r in rows] + [0]) or 1
        panels.append((path, title, ylabel, fmt, len(rows), top))

    for scen, (title, host, extra, conns) in LOAD_SCENARIOS.items():
        rows = [(t, s[(scen, t)]["rps"], s[(scen, t)]["rps_min"], s[(scen, t)]["rps_max"], COLORS[t])
                for t in LOAD_TARGETS if (scen, t) in s]
        if rows:
            bars(f"rps_{scen}", rows, f"({scen}) {title}: req/s ↑", "requests/s")
    for scen, (title, host, extra, conns) in LOAD_SCENARIOS.items():
        rows = [(t, s[(scen, t)]["cpu"], s[(scen, t)]["cpu"], s[(scen, t)]["cpu"], COLORS[t])
                for t in PROXIES + [FLOOR] if (scen, t) in s and s[(scen, t)]["cpu"] is not None]
        if rows:
            bars(f"cpu_{scen}", rows, f"({scen}) proxy CPU µs/request ↓", "µs / request", "%.1f")
    if res["idle"]:
        rows = []
        for t in PROXIES:
            k = [r["kib_per_conn"] for r in res["idle"] if r["target"] == t and r["kib_per_conn"] is not None]
            if k:
                rows.append((t, median(k), min(k), max(k), COLORS[t]))
        bars("idle", rows, f"(e) memory per idle connection ↓", "KiB / connection", "%.2f")
    if res["remap"]:
        by = {}
        for r in res["remap"]:
            by.setdefault(r["variant"], []).append(r)
        rows = []
        for variant, rs in by.items():
            label = {"nginx -s reload": "nginx\\nreload", "haproxy runtime API": "HAProxy\\nAPI",
                     "haproxy reload (-W, USR2)": "HAProxy\\nreload", "turnout ctl map/unmap/swap": "turnout\\nctl map…",
                     "turnout ctl reload": "turnout\\nreload"}.get(variant, variant)
            rs = [r for r in rs if r["requests"] > 0]
            if not rs:
                continue
            fails = sum(r["errors"] for r in rs)
            rows.append((label, fails, fails, fails, COLORS[rs[0]["proxy"]]))
        bars("remap", rows, "(f) failed requests during remaps ↓", "failed requests", "%.0f")
    sc = res.get("scale") or {}
    st = [x for x in sc.get("stages", []) if x.get("p99_us") is not None]
    if st:
        rows = []
        for x in st:
            tag = human(x["routes"]) + ("\\nfsync" if x.get("state_file") else "") + \
                ("\\n2cpu" if x.get("pinned") is False else "")
            rows.append((f"p50\\n{tag}", x["p50_us"], x["p50_us"], x["p50_us"], COLORS["turnout"]))
            rows.append((f"p99\\n{tag}", x["p99_us"], x["p99_us"], x["p99_us"], 0xF2A65A))
        bars("scale", rows, "(g) turnout remap apply latency ↓", "µs / change", "%.0f")
    pairs = routing_pairs(sc)
    if pairs:
        rows = []
        for n, (small, large) in pairs.items():
            if small is not None and large is not None:
                rows.append((f"1k\\n(vs {human(n)})", small, small, small, 0xF2A65A))
                rows.append((f"{human(n)} routes", large, large, large, COLORS["turnout"]))
        bars("routing", rows, "(g) turnout CPU µs/request by table size ↓", "µs / request", "%.1f")

    if not panels:
        return
    cols = 4
    nrows = (len(panels) + cols - 1) // cols
    gp = [f'set terminal pngcairo size 1800,{460 * nrows} font "DejaVu Sans,11"',
          f'set output "{os.path.join(out_dir, "latest.png")}"',
          f'set multiplot layout {nrows},{cols} title "turnout vs nginx vs HAProxy — one worker each on CPU {PROXY_CPU}, '
          f'load + backends on CPU {LOAD_CPU} — {datetime.datetime.utcnow():%Y-%m-%d}\\n'
          f'turnout (orange)  nginx (green)  HAProxy (blue)  direct to backend (grey)  bare TCP relay, the floor (light grey);  ↑ higher is better, ↓ lower is better" font ",14"',
          "set style fill solid 0.9 border -1", "set boxwidth 0.7", "set grid ytics lc rgb '#dddddd'",
          "unset key", "set xtics nomirror scale 0 font ',10'", "set ytics nomirror", "set border 3",
          "set bmargin 4"]
    for path, title, ylabel, fmt, n, top in panels:
        gp += [f'set title "{title}" font ",12"', f'set ylabel "{ylabel}"',
               f"set xrange [-0.6:{n - 0.4}]", f"set yrange [0:{top * 1.18}]",
               f"set format y '{'%.0s%c' if top >= 10000 else '%g'}'",
               f"plot '{path}' using 0:2:5:xtic(1) with boxes lc rgb variable, "
               f"'' using 0:3:(0):($4-$3) with vectors heads size screen 0.006,90 lc rgb '#222222' lw 1.5, "
               f"'' using 0:4:($2 >= 1000 ? sprintf('%.0f', $2) : sprintf('{fmt}', $2)) with labels offset 0,0.9 font ',10'"]
    gp.append("unset multiplot")
    script = os.path.join(dd, "chart.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp) + "\n")
    p = run(["gnuplot", script])
    if p.returncode != 0:
        log(f"gnuplot failed: {p.stderr.strip()[:500]}")


# ---------------------------------------------------------------- main

def report_only(args):
    with open(args.report_only) as f:
        results = json.load(f)
    saved = results.get("settings", {})
    for k in ("rounds", "other_rounds", "haproxy_bufsize", "duration", "remap_duration", "idle_conns", "quick"):
        if k in saved:
            setattr(args, k, saved[k])
    b = Bench(args)
    b.results = results
    started = datetime.datetime.fromisoformat(results["started"])
    finished = datetime.datetime.fromisoformat(results["finished"])
    os.makedirs(args.out, exist_ok=True)
    s = summarize(results)
    write_report(b, s, os.path.join(args.out, "latest.md"), started, finished,
                 results["loadavg_start"], results["loadavg_end"])
    write_chart(b, s, args.out)
    shutil.rmtree(b.tmp, ignore_errors=True)
    log(f"re-rendered {args.out}/latest.md and latest.png from {args.report_only}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"), help="build dir with turnout and bench/*")
    ap.add_argument("--quick", action="store_true", help="3 s runs, 6 s remap runs, fewer changes (a smoke run)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of (a)-(d)")
    ap.add_argument("--other-rounds", type=int, default=3,
                    help="rounds of (e), (f) and (g)'s routing cost")
    ap.add_argument("--haproxy-bufsize", default="auto",
                    help="HAProxy tune.bufsize: auto (65536 for (d) only, where it helps), default, or bytes")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--remap-duration", type=int, default=20, help="seconds of load per remap run (f)")
    ap.add_argument("--scenarios", default="abcdefg",
                    help="subset of abcdefg, of hijk: the TLS scenarios (tls_bench.py, results/tls.md), "
                         "l: HTTP/2 over TLS with h2load (h2_bench.py, results/h2.md), "
                         "and m: fleet mode, 3 instances + etcd at 100k routes (fleet_bench.py, results/fleet.md)")
    ap.add_argument("--idle-conns", type=int, default=10000)
    ap.add_argument("--tls-idle-conns", type=int, default=5000, help="connections of (k), idle TLS")
    ap.add_argument("--scale-routes", default="100000,1000000", help="route counts for (g)")
    ap.add_argument("--changes", type=int, default=2000, help="changes per churn in (g)")
    ap.add_argument("--routes-memory", default="100000,1000000",
                    help="(g) memory: route counts at which turnout, nginx and HAProxy hold the same hostnames "
                         "(RSS per route); empty to skip")
    ap.add_argument("--scale-memory-only", action="store_true",
                    help="(g): only the memory part, without the churn and routing-cost parts")
    ap.add_argument("--memory-duration", type=int, default=5, help="seconds of the wrk run in (g) memory")
    ap.add_argument("--no-memory-paths", dest="memory_paths", action="store_false",
                    help="(g) memory: skip turnout with 10%% more routes carrying a path (h<i>.r.test/api)")
    ap.add_argument("--no-scale-state", dest="scale_state", action="store_false",
                    help="skip (g)'s churn against a turnout with a state_file (fsync per change)")
    ap.add_argument("--profile", action="store_true", help="also perf-profile turnout in (a) and (b)")
    ap.add_argument("--out", default=os.path.join(BENCH, "results"),
                    help="directory for latest.md, latest.json and latest.png")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    ap.add_argument("--baseline", metavar="BINARY",
                    help="a previous turnout binary, run as one more target of (a)-(d) (new ÷ baseline ratios)")
    ap.add_argument("--report-only", metavar="JSON", help="re-render latest.md and latest.png from a results JSON")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    if args.baseline:
        args.baseline = os.path.abspath(args.baseline)
        if not os.access(args.baseline, os.X_OK):
            sys.exit(f"--baseline {args.baseline}: not an executable")
        LOAD_TARGETS.insert(LOAD_TARGETS.index("turnout") + 1, BASE)
    if args.report_only:
        return report_only(args)
    if args.quick:
        args.duration, args.remap_duration = min(args.duration, 3), min(args.remap_duration, 6)
        args.changes = min(args.changes, 500)
    args.scale_routes = [int(x) for x in args.scale_routes.split(",") if x]
    args.routes_memory = [int(x) for x in args.routes_memory.split(",") if x]
    args.memory_duration = min(args.memory_duration, args.duration)
    os.makedirs(args.out, exist_ok=True)
    global FD_LIMIT
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in (65536, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
            break
        except (ValueError, OSError):
            continue
    FD_LIMIT = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if args.idle_conns > FD_LIMIT - 600:
        log(f"open-file limit is {FD_LIMIT}: (e) uses {FD_LIMIT - 600} connections instead of {args.idle_conns}")
        args.idle_conns = FD_LIMIT - 600

    if len(os.sched_getaffinity(0)) < 2 and (os.cpu_count() or 1) < 2:
        sys.exit("needs 2 CPUs: the proxy on CPU 0, load generator and backends on CPU 1")
    os.sched_setaffinity(0, {LOAD_CPU})  # wrk, backends and helpers inherit CPU 1
    with_tls, with_h2, with_fleet = set(args.scenarios) & set("hijk"), "l" in args.scenarios, "m" in args.scenarios
    if with_tls:
        import tls_bench  # the TLS scenarios (h)-(k): their own proxies, report and results file
    if with_h2:
        import h2_bench  # the HTTP/2 scenario (l): the same, results/h2.md
    if with_fleet:
        import fleet_bench  # fleet mode (m): its own processes and options, results/fleet.md

    def run_fleet():
        # fleet_bench's own defaults (its --help), with this run's build, output and --quick.
        fleet_bench.main(fleet_bench.parse_args(["--build", args.build, "--out", args.out]
                                                + (["--quick"] if args.quick else [])
                                                + (["--keep"] if args.keep else [])))
    if not set(args.scenarios) & set("abcdefg"):
        if with_tls:
            tls_bench.main(args)
        if with_h2:
            h2_bench.main(args)
        if with_fleet:
            run_fleet()
        return
    b = Bench(args)
    started = datetime.datetime.utcnow()
    load_start = os.getloadavg()[0]

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        log(f"temp dir {b.tmp}; proxies on CPU {PROXY_CPU}, wrk + backends on CPU {LOAD_CPU}; load average {load_start:.2f}")
        b.results["versions"] = versions(args.build)
        b.start_backends()
        for name in PROXIES:
            b.start(name)
        if args.baseline:
            b.results["versions"]["baseline"] = versions_of_binary(args.baseline)
            b.start(BASE)
        b.start_relays()
        log("backends, turnout, nginx and HAProxy are up: " +
            ", ".join(f"{k} :{v}" for k, v in b.ports.items()))
        scen = [x for x in "abcd" if x in args.scenarios]
        for rnd in range(1, args.rounds + 1):
            order = LOAD_TARGETS[rnd - 1:] + LOAD_TARGETS[:rnd - 1]
            for sc in scen:
                log(f"round {rnd}/{args.rounds}, scenario ({sc}) {LOAD_SCENARIOS[sc][0]}")
                for t in order:
                    if t == FLOOR and sc not in FLOOR_SCENARIOS:
                        continue
                    b.load_run(sc, t, rnd)
                    time.sleep(0.5)
        b.haproxy_for("e")  # (e) and (f) run HAProxy with the bufsize of scenarios other than (d)
        if "e" in args.scenarios:
            for rnd in range(1, args.other_rounds + 1):
                log(f"round {rnd}/{args.other_rounds}, scenario (e) {args.idle_conns} idle keep-alive connections")
                for t in TARGETS[rnd - 1:] + TARGETS[:rnd - 1]:
                    b.idle_run(t, rnd)
        if args.profile:
            log("profiling turnout in (a) and (b)")
            b.profile()
        if "f" in args.scenarios:
            variants = b.remap_variants()
            names = list(variants)
            for rnd in range(1, args.other_rounds + 1):
                log(f"round {rnd}/{args.other_rounds}, scenario (f) remaps every 0.5 s under load")
                for v in names:
                    proxy, change = variants[v]
                    b.remap_run(v, proxy, change, rnd)
                    b.restore_remaps()
        if "g" in args.scenarios:
            if not args.scale_memory_only:
                log("scenario (g) remap scale")
                b.scale()
            if args.routes_memory:
                log("scenario (g) memory per route: turnout, nginx and HAProxy with the same hostnames")
                b.memory()
    except KeyboardInterrupt:
        log("interrupted; writing what was measured")
    finally:
        PROCS.stop_all()
    finished = datetime.datetime.utcnow()
    load_end = os.getloadavg()[0]
    s = summarize(b.results)
    b.results.update(machine=machine(), started=started.isoformat(), finished=finished.isoformat(),
                     loadavg_start=load_start, loadavg_end=load_end,
                     settings={k: v for k, v in vars(args).items()},
                     pinning={"proxy_cpu": PROXY_CPU, "load_cpu": LOAD_CPU})
    b.results["round_ratios"] = round_ratios(b.results)
    prev = os.path.join(args.out, "latest.json")
    if args.scale_memory_only and set(args.scenarios) <= set("g") and os.path.exists(prev):
        # Only (g) memory ran: it joins the last full run's results instead of replacing them, and
        # says when it was measured (its three proxies were measured in this run, side by side).
        with open(prev) as f:
            merged = json.load(f)
        mem = b.results.get("scale_memory") or {"rows": []}
        mem["versions"] = b.results.get("versions")
        mem["note"] = (f"Measured {started:%Y-%m-%d %H:%M} UTC by `bench/run.sh --scenarios g --scale-memory-only` "
                       f"(load average {load_start:.2f} → {load_end:.2f}), joined to the run above. ")
        merged["scale_memory"] = mem
        b.results = merged
        started = datetime.datetime.fromisoformat(merged["started"])
        finished = datetime.datetime.fromisoformat(merged["finished"])
        load_start, load_end = merged["loadavg_start"], merged["loadavg_end"]
        for k in ("rounds", "other_rounds", "haproxy_bufsize", "duration", "remap_duration", "idle_conns", "quick"):
            if k in merged.get("settings", {}):
                setattr(args, k, merged["settings"][k])  # the report describes the full run's settings
        s = summarize(b.results)
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump(b.results, f, indent=1, default=str)
    write_report(b, s, os.path.join(args.out, "latest.md"), started, finished, load_start, load_end)
    write_chart(b, s, args.out)
    log(f"wrote {args.out}/latest.md, latest.png, latest.json")
    if not args.keep:
        shutil.rmtree(b.tmp, ignore_errors=True)
    else:
        log(f"kept {b.tmp}")
    if with_tls:
        tls_bench.main(args)
    if with_h2:
        h2_bench.main(args)
    if with_fleet:
        run_fleet()


if __name__ == "__main__":
    sys.modules.setdefault("bench", sys.modules["__main__"])  # tls_bench, h2_bench, fleet_bench import this module
    main()

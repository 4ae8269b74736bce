#!/usr/bin/env python3
"""turnout soak benchmark (issue #5, item 9; bench/soak.sh calls this; not run in CI).

Ten minutes (default) of mixed load against one turnout, everything at once:

  - keep-alive GETs: `wrk -t1 -c20 --latency -H 'Host: soak.test'` in consecutive slices (10 s
    each), so every slice has its own request count, latency and failures;
  - client aborts: a thread that opens connections and abandons them after connect, mid request
    head, mid POST body, or right after a full request (RST through SO_LINGER 0);
  - backend kills: every other slice (every 20 s), SIGKILL one of the 4 backends (round robin,
    never two at once, so never both servers of one app) and restart it on its port 3-5 s later;
  - remaps every second over the admin socket: swap blue->green, swap green->blue, map green on
    extra.soak.test, unmap it; every 15th cycle (about once a minute) a reload of a rewritten
    config file. After each acknowledgement, a fresh request checks the new route is in force.

Sampled every 5 s: turnout's VmRSS, open fds, threads, and /metrics. After a warm-up (60 s, or
20% of the run), the median of the first window is compared with the median of the last.
Failed requests are attributed per slice: a slice with a kill in it may lose the requests that
were in flight on the killed backend (unavoidable); any other failure is a FAIL.

Results: bench/results/soak.{md,json,png}.
"""
import argparse
import datetime
import http.client
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import types

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
sys.dont_write_bytecode = True  # no bench/__pycache__ in the tree
import bench as B  # noqa: E402  (helpers only: importing bench.py has no side effects)

HOST = "soak.test"            # wrk's host: soak.test -> blue, swapped to green and back every 2 s
EXTRA = "extra.soak.test"     # mapped to green and unmapped again by the remap cycle
ABORT_HOST = "aborts.soak.test"  # the aborting clients' host: both apps, never remapped
BACKENDS = ["blue1", "green1", "blue2", "green2"]  # kill order: the apps alternate
APPS = {"blue": ["blue1", "blue2"], "green": ["green1", "green2"]}
# Response bodies: blue's are a short line, green's 32 KiB, so a swap changes the traffic's shape,
# a kill of a green server can cut a response already started, and an aborting client can reset
# its connection while turnout is still writing a response to it.
GREEN_BYTES = 32 * 1024
TIMEOUTS = dict(connect="1s", request_header="5s", upstream_response="10s", client_idle="30s",
                upstream_idle="10s", drain="10s")
UPSTREAM_IDLE_S = 10
RSS_GROWTH_MAX = 0.10   # FAIL above +10% RSS between the first post-warm-up window and the last
FD_GROWTH_MAX = 10      # FAIL above +10 open descriptors between the same windows
IDLE_FD_SLACK = 5       # idle fds after the load may exceed idle fds before it by this much
log = B.log


def now():
    return time.monotonic()


# ---------------------------------------------------------------- admin API over the unix socket

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def admin(sock, method, path, body=None, timeout=10):
    """One request on a fresh admin connection (as `turnout ctl` does): (status, text)."""
    c = UnixHTTPConnection(sock, timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


def parse_metrics(text):
    """Prometheus text -> {name: [(labels dict, value)]}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$', line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        try:
            v = float(m.group(3))
        except ValueError:
            continue
        out.setdefault(m.group(1), []).append((labels, v))
    return out


def metric(ms, name, **want):
    return sum(v for labels, v in ms.get(name, []) if all(labels.get(k) == x for k, x in want.items()))


def get(port, host, path="/"):
    """GET on a fresh connection: (status, X-Backend or None); status 0 = connection failed."""
    try:
        raw = B.http_get(port, host, path)  # Connection: close, 5 s timeout
    except OSError as e:
        return 0, repr(e)
    head = raw.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    m = re.match(r"HTTP/1\.\d (\d{3})", head)
    be = re.search(r"^X-Backend: *(\S+)", head, re.M | re.I)
    return (int(m.group(1)) if m else 0), (be.group(1) if be else None)


def proc_status(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def fd_kinds(pid):
    """Open descriptors by kind (socket, pipe, anon_inode:[eventfd], file), for the leak evidence."""
    kinds = {}
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                t = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            k = re.sub(r"\[\d+\]$", "", t) if not t.startswith("/") else "file"
            kinds[k] = kinds.get(k, 0) + 1
    except OSError:
        pass
    return kinds


# ---------------------------------------------------------------- the soak

class Soak:
    def __init__(self, args):
        self.args = args
        self.build = args.build
        self.turnout_bin = os.path.join(self.build, "turnout")
        self.backend_bin = os.path.join(self.build, "bench", "turnout-backend")
        self.tmp = tempfile.mkdtemp(prefix="turnout-soak.")
        self.procs = B.Procs()
        self.ports = {}
        self.backends = {}       # name -> Popen
        self.turnout = None      # Popen
        self.sock = os.path.join(self.tmp, "turnout.sock")
        self.cfg = os.path.join(self.tmp, "turnout.yaml")
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.t0 = None
        self.gen = 0             # config generation (reloads alternate server weights)
        self.route = {"soak.test": "blue", "extra": None}  # what the table says, as acknowledged
        self.samples, self.slices, self.kills, self.remaps, self.verifies = [], [], [], [], []
        self.aborts = {}         # mode -> {"n": .., "connect_errors": .., "other_errors": ..}
        self.crash = None        # how turnout died, if it did
        self.events = []         # notable things, in order

    def rel(self, t=None):
        return (now() if t is None else t) - self.t0

    def note(self, msg):
        t = self.rel() if self.t0 else 0.0
        self.events.append(dict(t=round(t, 2), msg=msg))
        log(f"  [{t:6.1f}s] {msg}")

    # ---- processes
    def start_backend(self, name):
        for attempt in range(20):
            size = ["--size", str(GREEN_BYTES)] if name.startswith("green") else []
            p = self.procs.spawn([self.backend_bin, "--listen", f"127.0.0.1:{self.ports[name]}", "--name", name,
                                  "--threads", "1"] + size, log_path=os.path.join(self.tmp, f"backend-{name}.log"))
            if B.wait_port(self.ports[name], 5):
                self.backends[name] = p
                return p
            self.procs.stop(p, signal.SIGKILL)
            time.sleep(0.2)  # the port may be briefly taken by someone else's connect; try again
        raise RuntimeError(f"backend {name} could not listen on {self.ports[name]} again")

    def config(self):
        w = 2 if self.gen % 2 else 1  # reloads alternate weights: the file really changes
        apps = "\n".join(
            f"  {app}: {{ servers: [" + ", ".join(
                f"{{ addr: \"127.0.0.1:{self.ports[s]}\", weight: {w if s in ('blue1', 'green2') else 1} }}"
                for s in servers) + "] }"
            for app, servers in APPS.items())
        t = ", ".join(f"{k}: {v}" for k, v in TIMEOUTS.items())
        return f"""# generated by bench/soak.py (generation {self.gen})
listen: ["127.0.0.1:{self.ports['turnout']}"]
workers: 2
admin: {{ socket: {self.sock} }}
state_file: {self.tmp}/turnout.state.json
access_log: off
log_level: info
apps:
{apps}
routes:
  {HOST}: [blue]
  {ABORT_HOST}: [blue, green]
timeouts: {{ {t} }}
limits: {{ max_connections: 10000 }}
"""

    def start_turnout(self):
        B.write_atomic(self.cfg, self.config())
        self.turnout = self.procs.spawn([self.turnout_bin, "run", "-c", self.cfg],
                                        cpu=B.PROXY_CPU if self.args.pin else None,
                                        log_path=os.path.join(self.tmp, "turnout.log"), cwd=self.tmp)
        end = now() + 15
        while now() < end:
            if self.turnout.poll() is not None:
                sys.exit(f"turnout exited at start ({self.turnout.returncode}); log: {self.tmp}/turnout.log")
            st, _ = get(self.ports["turnout"], HOST)
            if st == 200:
                return
            time.sleep(0.1)
        sys.exit(f"turnout did not answer 200 for {HOST}")

    def turnout_alive(self):
        if self.turnout.poll() is None:
            return True
        if self.crash is None:
            self.crash = dict(t=round(self.rel(), 1), returncode=self.turnout.returncode, log_tail=self.log_tail(15))
            self.note(f"!! turnout exited with status {self.turnout.returncode}")
            self.stop.set()
        return False

    def log_tail(self, n):
        try:
            with open(os.path.join(self.tmp, "turnout.log"), errors="replace") as f:
                return f.read().splitlines()[-n:]
        except OSError:
            return []

    # ---- sampling
    def sample(self, phase="load", with_metrics=True):
        pid = self.turnout.pid
        s = dict(t=round(self.rel(), 2) if self.t0 else None, phase=phase, rss_kib=proc_status(pid, "VmRSS"),
                 fds=open_fds(pid), threads=proc_status(pid, "Threads"), cpu_s=B.tree_cpu(pid))
        if not with_metrics:
            return s
        try:
            st, text = admin(self.sock, "GET", "/metrics", timeout=5)
            ms = parse_metrics(text) if st == 200 else {}
        except OSError as e:
            ms = {}
            s["metrics_error"] = repr(e)
        if ms:
            s.update(
                version=metric(ms, "turnout_table_version"),
                changes=metric(ms, "turnout_table_changes_total"),
                reloads=metric(ms, "turnout_reloads_total"),
                reload_failures=metric(ms, "turnout_reload_failures_total"),
                clients_active=metric(ms, "turnout_client_connections", state="active"),
                clients_idle=metric(ms, "turnout_client_connections", state="idle"),
                accepted=metric(ms, "turnout_client_connections_accepted_total"),
                request_heads=metric(ms, "turnout_request_heads_total"),
                retries=metric(ms, "turnout_upstream_retries_total"),
                upstream_idle=metric(ms, "turnout_upstream_connections", state="idle"),
                upstream_busy=metric(ms, "turnout_upstream_connections", state="busy"),
                local={c: metric(ms, "turnout_local_responses_total", code=c)
                       for c in ("400", "404", "408", "413", "431", "502", "503", "504")},
                classes={c: metric(ms, "turnout_requests_total", host=HOST, **{"class": c})
                         for c in ("none", "2xx", "4xx", "5xx")},
                server_failures=metric(ms, "turnout_server_failures_total"),
                servers_up=metric(ms, "turnout_server_up"),
                log_dropped=metric(ms, "turnout_log_dropped_lines_total"))
            if s["fds"] is not None:  # what is left once the connections are counted out: a leak shows here
                s["fds_other"] = s["fds"] - s["clients_active"] - s["clients_idle"] - s["upstream_idle"] - \
                    s["upstream_busy"]
        return s

    def sampler(self):
        """/proc every --fast-sample s (RSS, fds, threads: cheap, and the medians that judge flatness
        need many points, since the upstream pool's size swings with the remaps); /metrics as well
        every --sample-every s."""
        fast = self.args.fast_sample
        every = max(1, round(self.args.sample_every / fast))
        i = 1
        while not self.stop.wait(max(0.0, self.t0 + i * fast - now())):
            if not self.turnout_alive():
                return
            s = self.sample(with_metrics=i % every == 0)
            with self.lock:
                self.samples.append(s)
            if i % (6 * every) == 0:
                log(f"  [{s['t']:6.1f}s] rss {s['rss_kib'] / 1024:.1f} MiB, fds {s['fds']}, threads {s['threads']}, "
                    f"clients {s.get('clients_active', 0):.0f}+{s.get('clients_idle', 0):.0f} idle, upstream "
                    f"{s.get('upstream_busy', 0):.0f}+{s.get('upstream_idle', 0):.0f} idle, table v{s.get('version', 0):.0f}")
            i += 1

    # ---- remaps
    def remap_ops(self):
        """The endless cycle: (label, method, path, body, route state it leads to)."""
        cycle = 0
        while True:
            yield ("swap blue green", "POST", "/v1/swap", {"from": "blue", "to": "green", "hosts": [HOST]},
                   {"soak.test": "green"})
            yield ("swap green blue", "POST", "/v1/swap", {"from": "green", "to": "blue", "hosts": [HOST]},
                   {"soak.test": "blue"})
            yield ("map green extra", "POST", "/v1/batch", [{"op": "map", "app": "green", "host": EXTRA}],
                   {"extra": "green"})
            yield ("unmap green extra", "DELETE", f"/v1/routes/{EXTRA}/green", None, {"extra": None})
            cycle += 1
            if cycle % 15 == 0:  # about once a minute, at a point where the table equals the file
                yield ("reload", "POST", "/v1/reload", None, {"soak.test": "blue", "extra": None})

    def verify(self, label):
        """The answer came after every worker adopted the change: the next request must follow it."""
        t = now()
        want = self.route["soak.test"]
        st, be = get(self.ports["turnout"], HOST)
        ok = st == 200 and be in APPS[want]
        v = dict(t=round(self.rel(t), 2), after=label, host=HOST, want=want, status=st, backend=be, ok=ok)
        if ok and label in ("map green extra", "unmap green extra", "reload"):
            want2 = self.route["extra"]
            st2, be2 = get(self.ports["turnout"], EXTRA)
            ok = (st2 == 200 and be2 in APPS["green"]) if want2 == "green" else st2 == 404
            v.update(host=EXTRA, want=want2 or "404", status=st2, backend=be2, ok=ok)
        v["during_kill"] = self.in_kill_window(t)
        with self.lock:
            self.verifies.append(v)
        if not ok:
            self.note(f"route check after '{label}': {v['host']} answered {v['status']} from {v['backend']}, "
                      f"expected {v['want']}{' (backend kill in progress)' if v['during_kill'] else ''}")

    def remapper(self):
        ops = self.remap_ops()
        i = 1
        while not self.stop.wait(max(0.0, self.t0 + i * self.args.remap_every - now())):
            label, method, path, body, after = next(ops)
            if label == "reload":
                self.gen += 1
                B.write_atomic(self.cfg, self.config())
            t = now()
            try:
                st, text = admin(self.sock, method, path, body)
            except OSError as e:
                st, text = 0, repr(e)
            r = dict(t=round(self.rel(t), 2), op=label, status=st, ms=round((now() - t) * 1e3, 2))
            if st != 200:
                r["error"] = text.strip()[:300]
                self.note(f"remap '{label}' refused: {st} {text.strip()[:200]}")
            else:
                try:
                    r["version"] = json.loads(text).get("version")
                except ValueError:
                    pass
                self.route.update(after)
            with self.lock:
                self.remaps.append(r)
            if st == 200 and not self.stop.is_set():
                self.verify(label)
            i += 1

    # ---- client aborts
    def aborter(self):
        port = self.ports["turnout"]
        rnd = random.Random(5)
        head = f"GET /abort HTTP/1.1\r\nHost: {ABORT_HOST}\r\nUser-Agent: soak-aborter\r\nAccept: */*\r\n\r\n".encode()
        modes = ["after_connect", "mid_head", "mid_body", "after_request_rst", "mid_response_rst"]
        for m in modes:
            self.aborts[m] = dict(n=0, connect_errors=0, other_errors=0)
        while not self.stop.is_set():
            mode = rnd.choice(modes)
            c = self.aborts[mode]
            c["n"] += 1
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", port))
            except OSError:
                c["connect_errors"] += 1
                s.close()
                self.stop.wait(0.05)
                continue
            rst = rnd.random() < 0.5
            try:
                if mode == "mid_head":
                    s.sendall(head[:rnd.randrange(1, len(head) - 4)])
                    self.stop.wait(rnd.random() * 0.01)
                elif mode == "mid_body":
                    size = 256 * 1024
                    s.sendall(f"POST /upload HTTP/1.1\r\nHost: {ABORT_HOST}\r\nContent-Length: {size}\r\n"
                              f"Content-Type: application/octet-stream\r\n\r\n".encode())
                    s.sendall(b"x" * rnd.randrange(0, size - 1))
                    self.stop.wait(rnd.random() * 0.01)
                elif mode == "after_request_rst":
                    s.sendall(head)
                    rst = True  # before the response can arrive
                elif mode == "mid_response_rst":
                    s.sendall(head)
                    self.stop.wait(rnd.random() * 0.003)
                    rst = True
            except OSError:
                c["other_errors"] += 1
            if rst:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            self.stop.wait(self.args.abort_pause)

    # ---- backend kills
    def in_kill_window(self, t, grace=2.0):
        """True when t (monotonic) falls between a kill and its restart + grace."""
        with self.lock:
            kills = list(self.kills)
        for k in kills:
            start = self.t0 + k["t_kill"]
            end = self.t0 + (k["t_restart"] if k.get("t_restart") is not None else 1e9) + grace
            if start <= t <= end:
                return True
        return False

    def kill_one(self, deadline):
        name = BACKENDS[len(self.kills) % len(BACKENDS)]
        app = "blue" if name.startswith("blue") else "green"
        k = dict(backend=name, app=app, serving=self.route["soak.test"], t_kill=round(self.rel(), 2), t_restart=None)
        with self.lock:
            self.kills.append(k)
        self.procs.stop(self.backends[name], signal.SIGKILL)
        down = random.uniform(3.0, 5.0)
        self.stop.wait(max(0.0, min(down, deadline - now())))
        self.start_backend(name)
        k["t_restart"] = round(self.rel(), 2)
        k["down_s"] = round(k["t_restart"] - k["t_kill"], 2)
        self.note(f"killed {name} at {k['t_kill']:.1f} s (app {app}; soak.test was on {k['serving']}), "
                  f"restarted after {k['down_s']:.1f} s")
        return k

    # ---- wrk slices
    def run_slice(self, idx, seconds, kill):
        cmd = ["wrk", "-t1", f"-c{self.args.conns}", f"-d{seconds}s", "--latency", "--timeout", "5s",
               "-H", f"Host: {HOST}", f"http://127.0.0.1:{self.ports['turnout']}/"]
        t_start = now()
        p = self.procs.spawn(cmd, stdout=subprocess.PIPE)
        k = None
        if kill:
            self.stop.wait(max(0.0, t_start + self.args.kill_at + random.uniform(-0.5, 0.5) - now()))
            if not self.stop.is_set():
                k = self.kill_one(t_start + seconds - 1.0)
        out, _ = p.communicate(timeout=seconds + 60)
        self.procs.live.remove(p)
        t_end = now()
        r = B.parse_wrk(out.decode(errors="replace"))
        m = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out.decode(errors="replace"))
        r["max_ms"] = B.parse_duration_ms(m.group(1)) if m else None
        r.update(slice=idx, t_start=round(self.rel(t_start), 2), t_end=round(self.rel(t_end), 2),
                 kill=k["backend"] if k else None)
        if not r["requests"]:
            r["raw"] = out.decode(errors="replace")[-600:]
        if k:
            k["slice"] = idx
        with self.lock:
            self.slices.append(r)
        fails = r["errors"]
        log(f"  slice {idx:3d} [{r['t_start']:6.1f}-{r['t_end']:6.1f}s] {r['rps']:8.0f} req/s  p99 "
            f"{B.fmt_ms(r['p99_ms'])}  non-2xx {r['non2xx']}  socket errors {r['socket_errors']}"
            f"{'  <- kill ' + k['backend'] if k else ''}")
        if fails and not k:
            self.note(f"!! slice {idx}: {fails} failed requests with no backend kill in it")
        return r

    # ---- the whole run
    def run(self):
        a = self.args
        for name in BACKENDS + ["turnout"]:
            self.ports[name] = B.free_port()
        for name in BACKENDS:
            self.start_backend(name)
        self.start_turnout()
        log(f"temp dir {self.tmp}; turnout pid {self.turnout.pid} on :{self.ports['turnout']}; "
            f"backends " + ", ".join(f"{n} :{self.ports[n]}" for n in BACKENDS))
        time.sleep(1)
        self.t0 = now()
        self.idle_before = self.sample("idle before load")
        self.idle_before["fd_kinds"] = fd_kinds(self.turnout.pid)
        threads = [threading.Thread(target=f, name=f.__name__, daemon=True)
                   for f in ([self.sampler] + ([self.remapper] if not a.no_remaps else [])
                             + ([self.aborter] if not a.no_aborts else []))]
        for t in threads:
            t.start()
        n_slices = max(1, round(a.duration / a.slice))
        kill_every = max(1, round(a.kill_every / a.slice))
        for idx in range(n_slices):
            if self.stop.is_set() or not self.turnout_alive():
                break
            remaining = a.duration - self.rel()
            if remaining < 2:
                break
            secs = max(2, min(a.slice, int(round(remaining))))
            self.run_slice(idx, secs, kill=(not a.no_kills) and idx % kill_every == 0 and secs >= a.kill_at + 6)
        self.load_seconds = self.rel()
        self.stop.set()
        for t in threads:
            t.join(30)
        self.final_checks()

    def final_checks(self):
        f = self.final = {}
        f["alive_after_load"] = self.turnout_alive()
        if not f["alive_after_load"]:
            return
        st, be = get(self.ports["turnout"], HOST)
        f["answers"] = dict(status=st, backend=be)
        try:
            f["status_api"] = admin(self.sock, "GET", "/v1/status")[0]
        except OSError as e:
            f["status_api"] = repr(e)
        p = B.run([self.turnout_bin, "ctl", "-s", self.sock, "status"], timeout=30)
        f["ctl_status"] = dict(rc=p.returncode, out=(p.stdout + p.stderr).strip()[:2000])
        time.sleep(1.0)
        f["just_after"] = self.sample("just after load")
        # Idle upstream connections are closed after upstream_idle; then turnout should hold what it
        # held before the load: listeners, the admin socket, loop internals, nothing per client.
        log(f"load stopped; waiting {UPSTREAM_IDLE_S + 3} s (upstream_idle + 3 s) for idle connections to close")
        time.sleep(UPSTREAM_IDLE_S + 3)
        f["idle_after"] = self.sample("idle after load")
        f["idle_after"]["fd_kinds"] = fd_kinds(self.turnout.pid)
        f["alive_at_end"] = self.turnout_alive()
        t = now()
        self.turnout.send_signal(signal.SIGTERM)
        try:
            f["exit_status"] = self.turnout.wait(30)
        except subprocess.TimeoutExpired:
            f["exit_status"] = "did not exit within 30 s of SIGTERM"
        f["stop_seconds"] = round(now() - t, 2)

    def cleanup(self):
        self.stop.set()
        pgids = [p.pid for p in self.procs.live]
        self.procs.stop_all()
        left = []
        for g in pgids:
            try:
                os.killpg(g, 0)
                left.append(g)
            except ProcessLookupError:
                pass
            except PermissionError:
                left.append(g)
        return left


# ---------------------------------------------------------------- analysis

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def analyse(s, args):
    res = {}
    dur = s.load_seconds
    warm = args.warmup if args.warmup is not None else (0.2 * args.duration if args.quick else 60.0)
    win = min(60.0, max(5.0, (dur - warm) / 3))
    load = [x for x in s.samples if x["phase"] == "load"]
    first = [x for x in load if warm <= x["t"] < warm + win]
    last = [x for x in load if x["t"] >= dur - win]
    res["windows"] = dict(warmup_s=warm, window_s=win, first=[warm, warm + win], last=[dur - win, dur],
                          first_samples=len(first), last_samples=len(last))
    for key in ("rss_kib", "fds", "fds_other", "threads", "upstream_idle", "upstream_busy", "clients_active", "clients_idle"):
        a, b = median([x.get(key) for x in first]), median([x.get(key) for x in last])
        res[key] = dict(first=a, last=b, growth=(b - a) if a is not None and b is not None else None,
                        min=min((x[key] for x in load if x.get(key) is not None), default=None),
                        max=max((x[key] for x in load if x.get(key) is not None), default=None))
    r = res["rss_kib"]
    r["growth_pct"] = 100.0 * r["growth"] / r["first"] if r["first"] else None

    # Requests and failures, per slice.
    sl = s.slices
    conns = args.conns
    tot = dict(requests=sum(x["requests"] for x in sl), non2xx=sum(x["non2xx"] for x in sl),
               socket_errors=sum(x["socket_errors"] for x in sl), slices=len(sl),
               slices_with_kill=sum(1 for x in sl if x["kill"]))
    detail = {}
    for x in sl:
        for k, v in (x.get("socket_detail") or {}).items():
            detail[k] = detail.get(k, 0) + v
    tot["socket_detail"] = detail
    tot["failed"] = tot["non2xx"] + tot["socket_errors"]
    # A kill can fail at most the requests in flight on the killed backend: with wrk's one request
    # per connection, at most `conns`. Anything above that, or any failure in a slice without a
    # kill, is not explained by the kill.
    tot["in_kill_slices"] = sum(min(x["errors"], conns) for x in sl if x["kill"])
    tot["unexplained"] = sum(x["errors"] for x in sl if not x["kill"]) + \
        sum(max(0, x["errors"] - conns) for x in sl if x["kill"])
    secs = sum(x["seconds"] for x in sl)
    tot["rps"] = tot["requests"] / secs if secs else 0
    res["requests"] = tot

    # turnout's own error responses per kill window, from the /metrics deltas between samples.
    samples = [x for x in [s.idle_before] + load + [s.final.get("just_after") or {}] if "local" in x]
    windows = [(k["t_kill"], (k["t_restart"] or dur) + 2.0) for k in s.kills]
    in_k = dict(n502=0, n503=0, n504=0, x5xx=0)
    out_k = dict(n502=0, n503=0, n504=0, x5xx=0)
    for prev, cur in zip(samples, samples[1:]):
        if "local" not in prev or "local" not in cur:
            continue
        t0, t1 = prev["t"] or 0.0, cur["t"]
        overl = any(a < t1 and t0 < b for a, b in windows)
        d = in_k if overl else out_k
        for c in ("502", "503", "504"):
            d["n" + c] += cur["local"][c] - prev["local"][c]
        d["x5xx"] += cur["classes"]["5xx"] - prev["classes"]["5xx"]
    res["metrics_5xx"] = dict(in_kill_windows=in_k, outside=out_k)
    for k in s.kills:
        k["wrk_failed"] = next((x["errors"] for x in sl if x["slice"] == k.get("slice")), None)
        k["wrk_non2xx"] = next((x["non2xx"] for x in sl if x["slice"] == k.get("slice")), None)
        k["wrk_socket_errors"] = next((x["socket_errors"] for x in sl if x["slice"] == k.get("slice")), None)

    # Remaps and the route checks after them.
    ops = {}
    for r_ in s.remaps:
        o = ops.setdefault(r_["op"], dict(n=0, ok=0, refused=0, ms=[]))
        o["n"] += 1
        if r_["status"] == 200:
            o["ok"] += 1
            o["ms"].append(r_["ms"])
        else:
            o["refused"] += 1
    for o in ops.values():
        ms = sorted(o.pop("ms"))
        o["p50_ms"] = ms[len(ms) // 2] if ms else None
        o["max_ms"] = ms[-1] if ms else None
    res["remaps"] = dict(total=len(s.remaps), ok=sum(1 for x in s.remaps if x["status"] == 200),
                         refused=sum(1 for x in s.remaps if x["status"] != 200), by_op=ops,
                         refusals=[x for x in s.remaps if x["status"] != 200][:20])
    bad = [v for v in s.verifies if not v["ok"]]
    res["verify"] = dict(total=len(s.verifies), ok=len(s.verifies) - len(bad),
                         failed_in_kill=sum(1 for v in bad if v["during_kill"] and v["status"] in (0, 502, 503)),
                         failed=[v for v in bad][:20])
    res["verify"]["unexplained"] = len(bad) - res["verify"]["failed_in_kill"]
    res["aborts"] = s.aborts
    res["kills"] = s.kills

    # Criteria.
    f = s.final
    crit = []
    answered = f.get("answers", {}).get("status") == 200 and f.get("status_api") == 200 and \
        f.get("ctl_status", {}).get("rc") == 0
    crash_ok = s.crash is None and f.get("alive_at_end") and answered and f.get("exit_status") == 0
    if crash_ok:
        how = (f"alive; GET {HOST} 200, GET /v1/status 200, `turnout ctl status` exit 0; SIGTERM → exit 0 "
               f"in {f.get('stop_seconds')} s")
    else:
        how = f"crash: {s.crash}; at the end: " + "; ".join(
            f"{k} {f.get(k)}" for k in ("alive_at_end", "answers", "status_api", "exit_status"))
    crit.append(("no crash: turnout ran the whole soak, answered at the end, exited 0 on SIGTERM", how,
                 bool(crash_ok)))
    rg = r["growth_pct"]
    crit.append((f"RSS flat after warm-up (growth ≤ {RSS_GROWTH_MAX:.0%})",
                 f"{r['first'] / 1024:.1f} → {r['last'] / 1024:.1f} MiB ({rg:+.1f}%)" if rg is not None else "not measured",
                 rg is not None and rg <= RSS_GROWTH_MAX * 100))
    fd = res["fds"]
    crit.append((f"open fds flat after warm-up (growth ≤ {FD_GROWTH_MAX})",
                 f"{fd['first']:.0f} → {fd['last']:.0f} ({fd['growth']:+.0f})" if fd["growth"] is not None else "not measured",
                 fd["growth"] is not None and fd["growth"] <= FD_GROWTH_MAX))
    crit.append(("zero failed requests outside backend kills",
                 f"{tot['failed']} failed of {tot['requests']:,}: {tot['in_kill_slices']} in slices with a kill "
                 f"(unavoidable), {tot['unexplained']} unexplained",
                 tot["unexplained"] == 0 and tot["requests"] > 0))
    crit.append(("every remap acknowledged (HTTP 200)",
                 f"{res['remaps']['ok']}/{res['remaps']['total']} ({res['remaps']['refused']} refused)",
                 res["remaps"]["refused"] == 0 and res["remaps"]["total"] > 0))
    crit.append(("the request after each acknowledgement follows the new route",
                 f"{res['verify']['ok']}/{res['verify']['total']} ({res['verify']['failed_in_kill']} failed during a "
                 f"kill, {res['verify']['unexplained']} unexplained)",
                 res["verify"]["unexplained"] == 0))
    ib, ia = s.idle_before, f.get("idle_after") or {}
    clean = ia.get("fds") is not None and ia["fds"] - ib["fds"] <= IDLE_FD_SLACK and \
        ia.get("clients_active", 1) + ia.get("clients_idle", 1) == 0
    crit.append((f"nothing held after the load stops (no client connection; idle fds within +{IDLE_FD_SLACK} of before)",
                 f"fds idle {ib['fds']} before → {ia.get('fds')} after; client connections "
                 f"{ia.get('clients_active', 0) + ia.get('clients_idle', 0):.0f}" if ia else "not measured", bool(clean)))
    crit.append(("every process stopped at the end", "none left" if not s.left_running else f"left: {s.left_running}",
                 not s.left_running))
    res["criteria"] = [dict(name=n, value=v, ok=ok) for n, v, ok in crit]
    res["verdict"] = "PASS" if all(ok for _, _, ok in crit) else "FAIL"
    return res


def log_summary(path):
    """Warn/error lines of turnout's log, grouped with numbers blanked."""
    groups = {}
    total = 0
    try:
        with open(path, errors="replace") as f:
            for line in f:
                total += 1
                low = line.lower()
                if not re.search(r"\b(warn|warning|error|fatal|crit)\b", low):
                    continue
                key = re.sub(r"\d+", "N", re.sub(r"^\S+\s+", "", line.strip()))[:200]
                g = groups.setdefault(key, dict(n=0, first=line.strip()[:300]))
                g["n"] += 1
    except OSError:
        pass
    return dict(lines=total, warn_error=sorted(([v["n"], k, v["first"]] for k, v in groups.items()), reverse=True)[:25])


# ---------------------------------------------------------------- report

def fmt_t(t):
    return f"{t:.0f} s" if t is not None else "–"


def write_md(path, s, res, meta):
    a = s.args
    tot = res["requests"]
    L = [f"# turnout soak — {meta['started'][:16].replace('T', ' ')} UTC",
         "",
         f"**Verdict: {res['verdict']}**" + ("" if res["verdict"] == "PASS" else " — " + "; ".join(
             c["name"] for c in res["criteria"] if not c["ok"])),
         "",
         "![RSS, open fds and requests/s over the soak](soak.png)" if meta.get("chart") else "",
         "",
         f"- **Command:** `{meta['command']}` — {s.load_seconds:.0f} s of load"
         f"{' (--quick)' if a.quick else ''}, started {meta['started'][11:19]} UTC, took {meta['took_min']:.1f} min in all.",
         f"- **Machine:** {meta['machine']}; load average {meta['loadavg_start']:.2f} at the start, "
         f"{meta['loadavg_end']:.2f} at the end (shared with other engineers; requests/s moves with it).",
         f"- **turnout:** {meta['turnout_version']} (Release, `{os.path.relpath(s.build, ROOT)}/turnout`, binary of "
         f"{meta['turnout_built']}{'; git tree at run time ' + meta['commit'] if meta.get('commit') else ''}), `workers: 2`, admin socket, `state_file`, passive health only, "
         f"`access_log: off`, timeouts {', '.join(f'{k} {v}' for k, v in TIMEOUTS.items())}.",
         f"- **Pinning:** " + ("turnout on CPU 0; wrk, the backends and this script on CPU 1 (as bench.py)." if a.pin
                               else "none: turnout's 2 workers, wrk, the backends and this script share both CPUs."),
         f"- **Backends:** 4 `turnout-backend`s, one thread each: app `blue` = blue1, blue2 (a one-line body), app "
         f"`green` = green1, green2 ({GREEN_BYTES // 1024} KiB bodies). Routes in the file: `{HOST}` → blue, "
         f"`{ABORT_HOST}` → blue and green (the aborting clients' host).",
         f"- **Load, all at once for the whole run:** wrk `-t1 -c{a.conns} --latency` on `Host: {HOST}` in "
         f"{a.slice:.0f} s slices; client aborts (5 kinds, ~{1 / max(a.abort_pause, 0.001):.0f}/s at most); a backend "
         f"SIGKILLed every {a.kill_every:.0f} s (round robin blue1, green1, blue2, green2; restarted on its port 3–5 s "
         f"later); a remap every {a.remap_every:g} s over the admin socket (swap blue→green, swap green→blue, map green "
         f"on `{EXTRA}`, unmap it; every 15th cycle a reload of the config file rewritten with other server weights).",
         f"- **Sampling:** every {a.sample_every:g} s turnout's `/metrics`, and every {a.fast_sample:g} s its VmRSS, "
         f"open fds and threads (from /proc; many points, since the upstream pool's size swings with the remaps). "
         f"Warm-up {res['windows']['warmup_s']:.0f} s; \"flat\" compares the median of "
         f"[{res['windows']['first'][0]:.0f}, {res['windows']['first'][1]:.0f}) s with that of "
         f"[{res['windows']['last'][0]:.0f}, {res['windows']['last'][1]:.0f}] s.",
         "",
         "## Criteria",
         "",
         "| criterion | measured | verdict |",
         "|---|---|---|"]
    for c in res["criteria"]:
        L.append(f"| {c['name']} | {c['value']} | {'PASS' if c['ok'] else '**FAIL**'} |")
    rs, fd, th = res["rss_kib"], res["fds"], res["threads"]
    L += ["",
          "## Figures",
          "",
          "| | value |",
          "|---|---:|",
          f"| requests completed (wrk) | {tot['requests']:,} ({tot['rps']:,.0f} req/s on average) |",
          f"| failed requests (non-2xx + socket errors) | {tot['failed']} ({tot['non2xx']} non-2xx, "
          f"{tot['socket_errors']} socket errors" + (": " + ", ".join(f"{k} {v}" for k, v in tot['socket_detail'].items())
                                                      if tot['socket_errors'] else "") + ") |",
          f"| … in slices with a backend kill (unavoidable) | {tot['in_kill_slices']} |",
          f"| … unexplained (no kill in the slice, or more than the {a.conns} requests in flight) | {tot['unexplained']} |",
          f"| backend kills / restarts | {len(s.kills)} / {sum(1 for k in s.kills if k.get('t_restart') is not None)} |",
          f"| remaps applied / refused | {res['remaps']['ok']} / {res['remaps']['refused']} |",
          f"| route checks after a remap: ok / failed | {res['verify']['ok']} / {res['verify']['total'] - res['verify']['ok']} |",
          f"| client aborts | {sum(v['n'] for v in s.aborts.values()):,} (" +
          ", ".join(f"{k.replace('_', ' ')} {v['n']:,}" for k, v in s.aborts.items()) + ") |",
          f"| aborting clients refused at connect | {sum(v['connect_errors'] for v in s.aborts.values())} |",
          f"| turnout crashes | {0 if s.crash is None else 1} |",
          f"| RSS first window → last window (median) | {rs['first'] / 1024:.2f} → {rs['last'] / 1024:.2f} MiB "
          f"({rs['growth_pct']:+.1f}%); min {rs['min'] / 1024:.2f}, max {rs['max'] / 1024:.2f} |",
          f"| open fds first → last (median) | {fd['first']:.0f} → {fd['last']:.0f} ({fd['growth']:+.0f}); "
          f"min {fd['min']}, max {fd['max']} |",
          f"| open fds other than client and upstream connections, first → last (median) | "
          f"{res['fds_other']['first']} → {res['fds_other']['last']} (samples are not atomic: ± a few) |",
          f"| threads first → last | {th['first']:.0f} → {th['last']:.0f} |",
          f"| idle before load → idle after load (+{UPSTREAM_IDLE_S + 3} s) | RSS {s.idle_before['rss_kib'] / 1024:.2f} → "
          f"{(s.final.get('idle_after') or {}).get('rss_kib', 0) / 1024:.2f} MiB; fds {s.idle_before['fds']} → "
          f"{(s.final.get('idle_after') or {}).get('fds')} |",
          f"| turnout CPU time over the run | {meta['turnout_cpu_s']:.0f} s ({100 * meta['turnout_cpu_s'] / max(s.load_seconds, 1):.0f}% of one CPU) |",
          f"| SIGTERM → exit | {s.final.get('stop_seconds')} s, status {s.final.get('exit_status')} |",
          ""]
    m5 = res["metrics_5xx"]
    L += ["## Failed requests, explained",
          "",
          "A SIGKILLed backend loses the requests it had already received: turnout cannot know whether they were "
          "processed, so it answers 502 rather than replay them (only a request that never reached a server is "
          "retried). With one request in flight per wrk connection, a kill can cost at most "
          f"{a.conns} wrk requests, and none when the killed server's app was not serving `{HOST}` at that moment "
          "(the remaps move it every second). Failures in a slice without a kill, or above that bound, are "
          "unexplained.",
          "",
          f"turnout's own counters agree: 502/503/504 it generated (all hosts, `/metrics` deltas between samples) — "
          f"in intervals overlapping a kill (kill → restart + 2 s): {m5['in_kill_windows']['n502']:.0f} / "
          f"{m5['in_kill_windows']['n503']:.0f} / {m5['in_kill_windows']['n504']:.0f}; in the other intervals: "
          f"{m5['outside']['n502']:.0f} / {m5['outside']['n503']:.0f} / {m5['outside']['n504']:.0f}. "
          f"5xx to `{HOST}`: {m5['in_kill_windows']['x5xx']:.0f} in kill intervals, {m5['outside']['x5xx']:.0f} outside.",
          "",
          f"| kill at | backend | {HOST} on | down for | wrk failed in its slice (non-2xx / socket) | explained by |",
          "|---:|---|---|---:|---:|---|"]
    for k in s.kills:
        why = ("nothing failed" if not k.get("wrk_failed") else
               f"requests in flight on {k['backend']} when it died" if k["wrk_failed"] <= a.conns else
               f"**more than the {a.conns} in flight: not explained by the kill alone**")
        L.append(f"| {k['t_kill']:.1f} s | {k['backend']} | {k['serving']} | {k.get('down_s', 0):.1f} s | "
                 f"{k.get('wrk_failed')} ({k.get('wrk_non2xx')} / {k.get('wrk_socket_errors')}) | {why} |")
    bad = [x for x in s.slices if x["errors"] and not x["kill"]]
    if bad:
        L += ["", "Slices with failures and no kill:", "",
              "| slice | from | to | non-2xx | socket errors |", "|---:|---:|---:|---:|---:|"]
        for x in bad:
            L.append(f"| {x['slice']} | {x['t_start']:.1f} s | {x['t_end']:.1f} s | {x['non2xx']} | "
                     f"{x['socket_errors']} {x.get('socket_detail')} |")
    if res["verify"]["failed"]:
        L += ["", "Route checks that failed (a fresh GET right after an acknowledged change):", ""]
        for v in res["verify"]["failed"]:
            L.append(f"- {v['t']:.1f} s after `{v['after']}`: {v['host']} → {v['status']} from {v['backend']}, "
                     f"expected {v['want']}{' (during a kill)' if v['during_kill'] else ''}")
    if res["remaps"]["refusals"]:
        L += ["", "Refused remaps:", ""]
        for r_ in res["remaps"]["refusals"]:
            L.append(f"- {r_['t']:.1f} s `{r_['op']}`: {r_['status']} {r_.get('error', '')}")
    L += ["",
          "## Remaps",
          "",
          "| change | applied | refused | p50 | max |",
          "|---|---:|---:|---:|---:|"]
    for op, o in res["remaps"]["by_op"].items():
        L.append(f"| `{op}` | {o['ok']} | {o['refused']} | {B.fmt_ms(o['p50_ms'])} | {B.fmt_ms(o['max_ms'])} |")
    L += ["",
          "## Over time",
          "",
          f"Every 30 s (`/metrics` every {a.sample_every:g} s and /proc every {a.fast_sample:g} s in soak.json). "
          "Clients and upstream connections from "
          "`/metrics` (active+idle, busy+idle); 5xx = turnout's `requests_total{class=\"5xx\"}` for "
          f"`{HOST}` so far.",
          "",
          "| t | RSS MiB | fds | threads | clients | upstream | table version | retries | 5xx |",
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = [s.idle_before] + [x for x in s.samples if x["phase"] == "load" and "local" in x
                              and round(x["t"]) % 30 == 0] + \
        [x for x in (s.final.get("just_after"), s.final.get("idle_after")) if x]
    for x in rows:
        t = x["phase"] if x["phase"] != "load" else fmt_t(x["t"])
        L.append(f"| {t} | {x['rss_kib'] / 1024:.2f} | {x['fds']} | {x['threads']} | "
                 f"{x.get('clients_active', 0):.0f}+{x.get('clients_idle', 0):.0f} | "
                 f"{x.get('upstream_busy', 0):.0f}+{x.get('upstream_idle', 0):.0f} | {x.get('version', 0):.0f} | "
                 f"{x.get('retries', 0):.0f} | {x.get('classes', {}).get('5xx', 0):.0f} |")
    fb, fa = s.idle_before.get("fd_kinds", {}), (s.final.get("idle_after") or {}).get("fd_kinds", {})
    L += ["", "Open descriptors by kind, idle before → idle after: " +
          ", ".join(f"{k} {fb.get(k, 0)} → {fa.get(k, 0)}" for k in sorted(set(fb) | set(fa))) + "."]
    L += ["",
          "## Slices",
          "",
          "| slice | from | req/s | p50 | p99 | max | non-2xx | socket errors | kill |",
          "|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for x in s.slices:
        L.append(f"| {x['slice']} | {x['t_start']:.0f} s | {x['rps']:,.0f} | {B.fmt_ms(x['p50_ms'])} | "
                 f"{B.fmt_ms(x['p99_ms'])} | {B.fmt_ms(x.get('max_ms'))} | {x['non2xx']} | {x['socket_errors']} | "
                 f"{x['kill'] or ''} |")
    ab = res["aborts"]
    L += ["",
          "## Client aborts",
          "",
          f"Host `{ABORT_HOST}` (blue and green, never remapped, so the aborts do not blur `{HOST}`'s counters). "
          "Half of the early closes are FIN, half RST; the last two kinds always RST.",
          "",
          "| kind | connections | refused at connect | send errors |",
          "|---|---:|---:|---:|"]
    what = {"after_connect": "connect, then close", "mid_head": "part of a GET head, then close",
            "mid_body": "POST head (Content-Length 256 KiB) and part of the body, then close",
            "after_request_rst": "full GET, RST before the response",
            "mid_response_rst": "full GET, RST 0–3 ms later (often mid-response)"}
    for k, v in ab.items():
        L.append(f"| {what.get(k, k)} | {v['n']:,} | {v['connect_errors']} | {v['other_errors']} |")
    ls = meta["log"]
    L += ["",
          "## turnout's log",
          "",
          f"{ls['lines']} lines (`log_level: info`, access log off). Warnings and errors, grouped (numbers blanked):",
          ""]
    if ls["warn_error"]:
        L += ["| count | first occurrence |", "|---:|---|"]
        for n, key, first in ls["warn_error"]:
            L.append(f"| {n} | `{first.replace('|', '/')}` |")
    else:
        L.append("none.")
    ev = [e for e in s.events if not e["msg"].startswith("killed")]
    L += ["", "## Events", "", "Anything unexpected the soak noticed while it ran (kills are listed above):", ""]
    L += [f"- {e['t']:.1f} s: {e['msg']}" for e in ev] or ["none."]
    L += ["",
          "## Reproduce",
          "",
          "```sh",
          "bench/soak.sh                 # 10 min (600 s); builds build-bench/ first",
          "bench/soak.sh --quick         # 120 s, warm-up 24 s",
          "NO_BUILD=1 bench/soak.sh --duration 300 --keep   # keep the temp dir (config, logs, state file)",
          "```",
          ""]
    with open(path, "w") as f:
        f.write("\n".join(L))


def write_chart(s, res, out_dir, tmp):
    load = [x for x in s.samples if x["phase"] == "load"]
    if not load or not shutil.which("gnuplot"):
        return False
    dat = os.path.join(tmp, "samples.dat")
    with open(dat, "w") as f:
        for x in load:
            f.write(f"{x['t']:.1f} {x['rss_kib'] / 1024:.3f} {x['fds']} {x['threads']}\n")
    mdat = os.path.join(tmp, "metrics.dat")
    with open(mdat, "w") as f:
        for x in load:
            if "local" in x:
                f.write(f"{x['t']:.1f} {x['clients_active'] + x['clients_idle']:.0f} "
                        f"{x['upstream_busy'] + x['upstream_idle']:.0f}\n")
    sl = os.path.join(tmp, "slices.dat")  # a step per slice: from its start to its end
    with open(sl, "w") as f:
        for x in s.slices:
            f.write(f"{x['t_start']:.1f} {x['rps']:.0f}\n")
        if s.slices:
            f.write(f"{s.slices[-1]['t_end']:.1f} {s.slices[-1]['rps']:.0f}\n")
    fl = os.path.join(tmp, "failed.dat")  # failures at the middle of their slice
    with open(fl, "w") as f:
        for x in s.slices:
            f.write(f"{(x['t_start'] + x['t_end']) / 2:.1f} {x['errors']}\n")
    top_rss = max(x["rss_kib"] for x in load) / 1024
    top_fds = max(max(x["fds"], x["threads"]) for x in load)
    top_rps = max([x["rps"] for x in s.slices] + [1])
    top_fail = max([x["errors"] for x in s.slices] + [1])
    w = res["windows"]
    objs = []
    for i, k in enumerate(s.kills):
        end = k.get("t_restart") or k["t_kill"] + 1
        objs.append(f"set object {i + 1} rect from {k['t_kill']},graph 0 to {end},graph 1 "
                    "behind fc rgb '#f4cccc' fs solid 0.6 noborder")
    marks = [f"set arrow from {w['warmup_s']},graph 0 to {w['warmup_s']},graph 1 nohead dt 2 lc rgb '#888888'"]
    for lo, hi in (w["first"], w["last"]):
        marks.append(f"set arrow from {lo},graph 0.98 to {hi},graph 0.98 heads size screen 0.004,90 lc rgb '#555555'")
    xr = f"set xrange [0:{max(s.load_seconds, 1):.0f}]"
    png = os.path.join(out_dir, "soak.png")
    gp = [f'set terminal pngcairo size 1400,1000 font "DejaVu Sans,11"', f'set output "{png}"',
          f'set multiplot layout 3,1 title "turnout soak — {s.load_seconds:.0f} s: wrk -c{s.args.conns}, client aborts, '
          f'a backend SIGKILLed every {s.args.kill_every:.0f} s (red bands), a remap every {s.args.remap_every:g} s\\n'
          f'dashed line: end of warm-up; bars at the top: the windows compared for flatness" font ",13"',
          "set grid lc rgb '#dddddd'", "set key top right horizontal noopaque samplen 2", "set border 3", "set xtics nomirror",
          "set ytics nomirror", "set lmargin 10", "set rmargin 10", xr] + objs + marks + [
          'set title "turnout RSS (VmRSS)"', 'set ylabel "MiB"', f"set yrange [0:{top_rss * 1.35:.2f}]",
          f"plot '{dat}' using 1:2 with lines lw 2 lc rgb '#E4572E' title 'RSS MiB'",
          'set title "turnout open file descriptors and threads"', 'set ylabel "count"',
          f"set yrange [0:{top_fds * 1.35:.0f}]",
          f"plot '{dat}' using 1:3 with lines lw 1.5 lc rgb '#1F6FB4' title 'open fds', "
          f"'' using 1:4 with lines lw 2 lc rgb '#2E8B57' title 'threads', "
          f"'{mdat}' using 1:2 with lines lw 1 lc rgb '#999999' title 'client connections', "
          f"'' using 1:3 with lines lw 1 dt 3 lc rgb '#555555' title 'upstream connections'",
          'set title "wrk requests/s per slice, and failed requests per slice"', 'set ylabel "requests/s"',
          f"set yrange [0:{top_rps * 1.35:.0f}]", 'set y2label "failed requests"', "set y2tics",
          f"set y2range [0:{max(top_fail * 1.35, 1.35):.1f}]", 'set xlabel "seconds since load start"',
          f"plot '{sl}' using 1:2 with steps lw 2 lc rgb '#E4572E' title 'req/s (wrk slice)', "
          f"'{fl}' using 1:2 axes x1y2 with impulses lw 4 lc rgb '#000000' title 'failed requests in the slice'",
          "unset multiplot"]
    script = os.path.join(tmp, "soak.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp) + "\n")
    p = B.run(["gnuplot", script])
    if p.returncode != 0:
        log(f"gnuplot failed: {p.stderr.strip()[:500]}")
        return False
    return True


# ---------------------------------------------------------------- main

def report_only(path, out_dir):
    """Re-renders soak.md / soak.png (and the analysis in soak.json) from a soak.json, measuring nothing."""
    with open(path) as f:
        d = json.load(f)
    args = argparse.Namespace(**d["meta"]["settings"])
    s = types.SimpleNamespace(args=args, build=args.build, **{k: d[k] for k in (
        "load_seconds", "idle_before", "final", "kills", "slices", "samples", "aborts", "events", "crash",
        "left_running", "remaps", "verifies")})
    res = analyse(s, args)
    tmp = tempfile.mkdtemp(prefix="turnout-soak-report.")
    os.makedirs(out_dir, exist_ok=True)
    d["meta"]["chart"] = write_chart(s, res, out_dir, tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    d.update(analysis=res, verdict=res["verdict"], kills=s.kills)
    with open(os.path.join(out_dir, "soak.json"), "w") as f:
        json.dump(d, f, indent=1, default=str)
    write_md(os.path.join(out_dir, "soak.md"), s, res, d["meta"])
    log(f"re-rendered {out_dir}/soak.md{', soak.png' if d['meta']['chart'] else ''} from {path}: {res['verdict']}")
    return 0 if res["verdict"] == "PASS" else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"), help="build dir with turnout and bench/")
    ap.add_argument("--duration", type=float, default=600, help="seconds of load (default 600)")
    ap.add_argument("--quick", action="store_true", help="120 s, warm-up 20%% of it")
    ap.add_argument("--warmup", type=float, help="seconds of warm-up (default 60, or 20%% with --quick)")
    ap.add_argument("--slice", type=float, default=10, help="seconds per wrk slice")
    ap.add_argument("--conns", type=int, default=20, help="wrk connections")
    ap.add_argument("--kill-every", type=float, default=20, help="seconds between backend kills (a multiple of --slice)")
    ap.add_argument("--kill-at", type=float, default=2, help="seconds into a slice at which the kill happens")
    ap.add_argument("--remap-every", type=float, default=1.0)
    ap.add_argument("--sample-every", type=float, default=5.0, help="seconds between /metrics samples")
    ap.add_argument("--fast-sample", type=float, default=1.0, help="seconds between RSS/fd/thread samples")
    ap.add_argument("--abort-pause", type=float, default=0.01, help="seconds between two aborting clients")
    ap.add_argument("--no-kills", action="store_true")
    ap.add_argument("--no-aborts", action="store_true")
    ap.add_argument("--no-remaps", action="store_true")
    ap.add_argument("--pin", action="store_true", help="turnout on CPU 0, everything else on CPU 1 (as bench.py)")
    ap.add_argument("--out", default=os.path.join(BENCH, "results"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (config, logs, state file)")
    ap.add_argument("--report-only", metavar="JSON", help="re-render soak.md and soak.png from a soak.json")
    args = ap.parse_args()
    if args.report_only:
        return report_only(args.report_only, args.out)
    args.build = os.path.abspath(args.build)
    if args.quick and "--duration" not in " ".join(sys.argv):
        args.duration = 120
    for exe in (os.path.join(args.build, "turnout"), os.path.join(args.build, "bench", "turnout-backend")):
        if not os.access(exe, os.X_OK):
            sys.exit(f"{exe} is missing: build it (bench/soak.sh does)")
    if not shutil.which("wrk"):
        sys.exit("wrk is missing (apt-get install wrk; bench/soak.sh does)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    if args.pin:
        os.sched_setaffinity(0, {B.LOAD_CPU})  # wrk, backends and helpers inherit CPU 1
    os.makedirs(args.out, exist_ok=True)

    s = Soak(args)
    started = datetime.datetime.utcnow()
    load_start = os.getloadavg()[0]
    argv = sys.argv[1:]
    if os.environ.get("SOAK_VIA_SH"):  # soak.sh adds --build $BUILD_DIR itself
        i = argv.index("--build")
        argv = argv[:i] + argv[i + 2:]
    cmd = (("NO_BUILD=1 " if os.environ.get("NO_BUILD") == "1" else "") + "bench/soak.sh " + " ".join(argv)).strip() \
        if os.environ.get("SOAK_VIA_SH") else "bench/soak.py " + " ".join(argv)

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    interrupted = False
    s.final, s.left_running, s.load_seconds = {}, [], 0.0
    turnout_cpu = 0.0
    try:
        log(f"soak: {args.duration:.0f} s; pinning: {'turnout CPU 0, rest CPU 1' if args.pin else 'none'}; "
            f"load average {load_start:.2f}")
        s.run()
        last = s.final.get("idle_after") or (s.samples[-1] if s.samples else {})
        turnout_cpu = last.get("cpu_s", 0.0) - s.idle_before.get("cpu_s", 0.0)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted; writing what was measured")
        s.load_seconds = s.load_seconds or (s.rel() if s.t0 else 0.0)
    finally:
        s.left_running = s.cleanup()
    finished = datetime.datetime.utcnow()
    if not s.t0 or not s.samples:
        sys.exit("nothing was measured")
    if not s.final:
        s.final = {}
    res = analyse(s, args)
    p = B.run([os.path.join(args.build, "turnout"), "--version"])
    meta = dict(started=started.isoformat(), finished=finished.isoformat(),
                took_min=(finished - started).total_seconds() / 60, loadavg_start=load_start,
                loadavg_end=os.getloadavg()[0], machine=B.machine(), command=cmd, interrupted=interrupted,
                turnout_version=(p.stdout + p.stderr).strip().splitlines()[0] if (p.stdout + p.stderr).strip() else "?",
                turnout_built=datetime.datetime.utcfromtimestamp(os.path.getmtime(os.path.join(args.build, "turnout")))
                .strftime("%Y-%m-%d %H:%M UTC"),
                commit=B.run(["git", "-C", ROOT, "describe", "--always", "--dirty"]).stdout.strip() or "?",
                turnout_cpu_s=turnout_cpu, log=log_summary(os.path.join(s.tmp, "turnout.log")),
                settings={k: v for k, v in vars(args).items()}, timeouts=TIMEOUTS,
                pinning="turnout CPU 0, rest CPU 1" if args.pin else "none")
    meta["chart"] = write_chart(s, res, args.out, s.tmp)
    out = dict(meta=meta, verdict=res["verdict"], analysis=res, slices=s.slices, samples=s.samples,
               idle_before=s.idle_before, final=s.final, kills=s.kills, remaps=s.remaps, verifies=s.verifies,
               aborts=s.aborts, events=s.events, crash=s.crash, left_running=s.left_running,
               load_seconds=s.load_seconds, config=s.config())
    with open(os.path.join(args.out, "soak.json"), "w") as f:
        json.dump(out, f, indent=1, default=str)
    write_md(os.path.join(args.out, "soak.md"), s, res, meta)
    log(f"verdict {res['verdict']}")
    for c in res["criteria"]:
        log(f"  {'PASS' if c['ok'] else 'FAIL'}  {c['name']}: {c['value']}")
    log(f"wrote {args.out}/soak.md, soak.json{', soak.png' if meta['chart'] else ''}")
    if args.keep or res["verdict"] != "PASS":
        log(f"kept {s.tmp} (config, turnout.log, backend logs, state file)")
    else:
        shutil.rmtree(s.tmp, ignore_errors=True)
    return 0 if res["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())

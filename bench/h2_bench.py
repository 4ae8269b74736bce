"""HTTP/2 scenario (l) of the benchmark: turnout vs nginx vs HAProxy over TLS with ALPN h2
(issue #13 item 7). bench.py runs this module when --scenarios holds l.

Same setup as the TLS scenarios (h)-(k) (tls_bench.TlsBench): the same backends (bench/backend.cc,
128 B responses), one worker each, the proxy pinned to CPU 0 and h2load and the backends to
CPU 1, the same ECDSA P-256 certificate on each proxy's TLS listener, which here also offers h2 by
ALPN. Interleaved rounds with the target order rotated; ratios turnout ÷ peer per round, then the
median of the rounds.

  l  h2load -c10 -m10 (10 connections × 10 concurrent streams, one h2load thread) over TLS,
     ALPN h2, small responses → requests/s and proxy CPU µs per request (utime+stime of the
     proxy's process tree from /proc over the run)

Target (issue #13 item 7): at least 1.1× the better peer's requests/s and at most 0.9× its CPU
per request. Results: results/h2.md and results/h2.json.
"""
import datetime
import os
import re
import time

import bench as B
import tls_bench as T

H2_SCENARIOS = "l"
TITLE = "HTTP/2 over TLS (ALPN h2), 10 connections × 10 streams, small responses"
CLIENTS, STREAMS = 10, 10
TARGET_RATE, TARGET_CPU = 1.1, 0.9


class H2Bench(T.TlsBench):
    """TlsBench whose TLS listeners also offer h2. turnout's TLS listeners offer h2 by default
    (`http2: true`), so its config is TlsBench's unchanged."""

    def nginx_conf(self, a_test_app="a"):
        text = super().nginx_conf(a_test_app)
        port = self.tls_port("nginx")
        # `http2` on the listen socket (nginx 1.22): ALPN h2 and http/1.1 on the same port.
        text = text.replace(f"listen 127.0.0.1:{port} ssl backlog=4096", f"listen 127.0.0.1:{port} ssl http2 backlog=4096")
        # Requests per h2 connection: bench.py's keepalive_requests 1000000 (which replaced
        # http2_max_requests in nginx 1.19.7), so h2load never has to reconnect.
        return text.replace(f"listen 127.0.0.1:{port} ssl;", f"listen 127.0.0.1:{port} ssl http2;")

    def haproxy_conf(self, a_side="blue", bufsize=None):
        return super().haproxy_conf(a_side, bufsize).replace("alpn http/1.1 ", "alpn h2,http/1.1 ")

    def h2load(self, port, secs):
        cmd = ["h2load", "-t1", f"-c{CLIENTS}", f"-m{STREAMS}", f"-D{secs}",
               f"--connect-to=127.0.0.1:{port}", f"https://a.test:{port}/"]
        p = B.run(cmd, timeout=secs + 60)  # inherits CPU 1 from bench.py
        return parse_h2load(p.stdout), p.stdout + p.stderr

    def h2_run(self, target, rnd):
        self.ensure_up(target)
        self.haproxy_for("l")
        port = self.tls_port(target)
        root = self.proxies[target].pid
        secs = self.args.duration
        load = os.getloadavg()[0]
        # No --warm-up-time: h2load's request count then covers the whole run (handshakes
        # included), the same window as the CPU read around it.
        cpu0 = B.tree_cpu(root)
        t0, l0 = time.monotonic(), B.cpu_ticks(B.LOAD_CPU)
        r, raw = self.h2load(port, secs)
        cpu = B.tree_cpu(root) - cpu0
        wall = time.monotonic() - t0
        n = r["requests"]
        r.update(scenario="l", target=target, round=rnd, loadavg=load, cpu_s=cpu, wall_s=wall,
                 cpu_us_per_req=(cpu * 1e6 / n) if n else None,
                 proxy_busy_pct=100.0 * cpu / wall if wall > 0 else None,
                 load_cpu_busy_pct=B.busy_pct(l0, B.cpu_ticks(B.LOAD_CPU)),
                 rss_kib=self.rss_kib(target))
        if not n or r.get("protocol") != "h2":
            B.log(f"  (l) {target} measured nothing over h2 (protocol {r.get('protocol')}): {raw.strip()[-600:]}")
            r["requests"] = 0
        self.results["h2_runs"].append(r)
        B.log(f"  (l) {target:8} round {rnd}: {r['rps']:8.0f}/s  cpu {B.fmt_num(r['cpu_us_per_req'], 1)} us each  "
              f"failed {r['failed']} errored {r['errored']} non-2xx {r['non2xx']}  busy: proxy "
              f"{B.fmt_num(r['proxy_busy_pct'])}% load CPU {B.fmt_num(r['load_cpu_busy_pct'])}%  (load {load:.1f})")


def parse_h2load(out):
    """h2load's summary: requests done and succeeded, req/s, failures, status classes, the protocol
    negotiated, and the mean and max request time (h2load prints no percentiles)."""
    r = dict(requests=0, succeeded=0, failed=0, errored=0, timeout=0, rps=0.0, seconds=0.0, non2xx=0,
             protocol=None, mean_ms=None, max_ms=None)
    m = re.search(r"finished in ([\d.]+)(s|ms), ([\d.]+) req/s", out)
    if m:
        r["seconds"] = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
        r["rps"] = float(m.group(3))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, "
                  r"(\d+) timeout", out)
    if m:
        r["requests"], r["succeeded"], r["failed"], r["errored"], r["timeout"] = (
            int(m.group(3)), int(m.group(4)), int(m.group(5)), int(m.group(6)), int(m.group(7)))
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if m:
        r["non2xx"] = sum(int(x) for x in m.groups()[1:])
    m = re.search(r"Application protocol: (\S+)", out)
    if m:
        r["protocol"] = m.group(1)
    m = re.search(r"time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", out)
    if m:
        unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}
        r["max_ms"] = float(m.group(3)) * unit[m.group(4)]
        r["mean_ms"] = float(m.group(5)) * unit[m.group(6)]
    r["errors"] = r["failed"] + r["errored"] + r["timeout"] + r["non2xx"]
    return r


# ---------------------------------------------------------------- report
def summarize(results):
    by = {}
    for r in results["h2_runs"]:
        if r["requests"]:
            by.setdefault(r["target"], []).append(r)
    return {t: dict(rate=B.median([r["rps"] for r in rs]), cpu=B.median([r["cpu_us_per_req"] for r in rs]),
                    mean_ms=B.median([r["mean_ms"] for r in rs]), busy=B.median([r["proxy_busy_pct"] for r in rs]),
                    errors=sum(r["errors"] for r in rs), rounds=len(rs))
            for t, rs in by.items()}


def round_ratios(results):
    """{"rps"|"cpu": {peer: [turnout ÷ peer per round]}}."""
    rows = results["h2_runs"]
    rounds = sorted({r["round"] for r in rows})
    out = {}
    for key, field in (("rps", "rps"), ("cpu", "cpu_us_per_req")):
        by = {(r["target"], r["round"]): (r.get(field) if r["requests"] else None) for r in rows}
        out[key] = {peer: [B.ratio(by.get(("turnout", n)), by.get((peer, n))) for n in rounds]
                    for peer in ("nginx", "haproxy")}
    return out


def verdicts(rr):
    """[(text, met)]: req/s against the peer turnout's ratio is lowest against, CPU per request
    against the peer it is highest against (the better peer on each figure)."""
    out = []
    for key, label, want, lower in (("rps", "requests/s", TARGET_RATE, False),
                                    ("cpu", "CPU µs per request", TARGET_CPU, True)):
        med = {p: B.median(v) for p, v in rr.get(key, {}).items()}
        vals = [v for v in med.values() if v is not None]
        if not vals:
            out.append((f"{label}: not measured (turnout did not serve h2?)", False))
            continue
        v = max(vals) if lower else min(vals)
        peer = [p for p, x in med.items() if x == v][0]
        met = v <= want if lower else v >= want
        out.append((f"{label}: turnout ÷ the better peer ({peer}) {B.fmt_ratio(v)} "
                    f"(target {'≤' if lower else '≥'} {want}×)", met))
    return out


def turnout_source(build):
    """Which source the measured turnout was built from: the build dir's source tree, its branch
    and commit (with -dirty for uncommitted changes) as they are when the report is written, so a
    result names the code it measured (run.sh builds right before measuring)."""
    src = None
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_HOME_DIRECTORY:"):
                    src = line.split("=", 1)[1].strip()
    except OSError:
        return "?"
    if not src:
        return "?"
    head = B.run(["git", "-C", src, "describe", "--always", "--dirty"]).stdout.strip() or "?"
    branch = B.run(["git", "-C", src, "rev-parse", "--abbrev-ref", "HEAD"]).stdout.strip() or "?"
    return f"branch {branch} at {head}"


def write_report(b, path, started, finished, load_start, load_end):
    res = b.results
    s = summarize(res)
    rr = round_ratios(res)
    L = [f"# HTTP/2 benchmark: turnout vs nginx vs HAProxy — {started:%Y-%m-%d %H:%M} UTC\n",
         f"Scenario (l) of `bench/run.sh --scenarios l` (bench/README.md, ## HTTP/2): {TITLE}. "
         f"`h2load -t1 -c{CLIENTS} -m{STREAMS} -D{b.args.duration}` against each proxy's TLS "
         f"listener (ALPN h2, one ECDSA P-256 certificate, TLS 1.3), one worker each, proxy on CPU {B.PROXY_CPU}, "
         f"h2load and backends on CPU {B.LOAD_CPU}; {b.args.rounds} interleaved rounds, order rotated. "
         "req/s is h2load's (requests done ÷ its run time); CPU per request is the proxy process tree's "
         "utime+stime (from /proc) over the h2load run ÷ the requests done. Ratios are "
         "turnout ÷ peer per round, then the median of the rounds.\n",
         f"Load average {load_start:.2f} at start, {load_end:.2f} at the end "
         f"({(finished - started).total_seconds() / 60:.1f} min).\n",
         "## Targets (issue #13 item 7)\n", "| figure | result | met |", "|---|---|---|"]
    for text, met in verdicts(rr):
        label, _, rest = text.partition(": ")
        L.append(f"| {label} | {rest} | {'yes' if met else '**no**'} |")
    L += [f"\n## (l) {TITLE}\n", "| target | req/s | CPU µs/request | mean request time | proxy busy | errors | rounds |",
          "|---|---:|---:|---:|---:|---:|---:|"]
    for t in B.PROXIES:
        x = s.get(t)
        if x:
            L.append(f"| {t} | {x['rate']:,.0f} | {B.fmt_num(x['cpu'], 1)} | {B.fmt_ms(x['mean_ms'])} | "
                     f"{B.fmt_pct(x['busy'])} | {x['errors']} | {x['rounds']} |")
        else:
            L.append(f"| {t} | — | — | — | — | — | 0 (no h2 run measured) |")
    L.append("")
    for key, label in (("rps", "requests/s"), ("cpu", "CPU µs per request")):
        for peer, vals in rr.get(key, {}).items():
            L.append(f"- {label}, turnout ÷ {peer} per round: " + ", ".join(B.fmt_ratio(v) for v in vals) +
                     f" → median {B.fmt_ratio(B.median(vals))}")
    L.append("\n## Versions\n")
    for k, v in res.get("versions", {}).items():
        L.append(f"- {k}: {v}")
    L.append(f"- h2load: {B.run(['h2load', '--version']).stdout.strip()}")
    L.append(f"- OpenSSL: {B.run(['openssl', 'version']).stdout.strip()}")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def main(args):
    """Runs scenario (l); writes h2.md and h2.json in args.out."""
    b = H2Bench(args)
    b.results.update(h2_runs=[])
    started = datetime.datetime.utcnow()
    load_start = os.getloadavg()[0]
    try:
        B.log(f"HTTP/2 scenario (l) in {b.tmp}; load average {load_start:.2f}")
        b.results["versions"] = B.versions(args.build)
        b.results["versions"]["turnout_source"] = turnout_source(args.build)
        b.start_backends()
        for name in B.PROXIES:
            b.start(name)
        B.log("TLS listeners with h2: " + ", ".join(f"{p} :{b.tls_port(p)}" for p in B.PROXIES))
        for rnd in range(1, args.rounds + 1):
            B.log(f"round {rnd}/{args.rounds}, scenario (l) {TITLE}")
            for t in B.PROXIES[(rnd - 1) % 3:] + B.PROXIES[:(rnd - 1) % 3]:
                b.h2_run(t, rnd)
                time.sleep(0.5)
    except KeyboardInterrupt:
        B.log("interrupted; writing what was measured")
    finally:
        B.PROCS.stop_all()
    T.save_results(b, args, "h2", started, load_start, round_ratios, write_report)
    return b

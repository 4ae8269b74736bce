"""TLS scenarios (h)-(k) of the benchmark: turnout vs nginx vs HAProxy on HTTPS listeners
(issue #12 items 6 and 8). bench.py runs this module when --scenarios holds any of h, i, j, k.

Same setup as (a)-(g): the same backends, one worker each, the proxy pinned to CPU 0 and the
clients and backends to CPU 1, interleaved rounds with the target order rotated, ratios
turnout ÷ peer per round and their medians. Each proxy gets one more listener, with TLS, serving
one ECDSA P-256 certificate made by the openssl CLI at bench time; all three proxies run on the
same OpenSSL (Debian's 3.0; recorded in tls.md).

  h  TLS keep-alive, small responses: wrk -c50 over https → proxy CPU µs per request
  i  full TLS 1.3 handshakes, a new connection per request: tls_clients --mode new
     (16 clients: connect, handshake, one GET with Connection: close, close) → handshakes per
     proxy CPU-second
  j  resumed TLS 1.3 handshakes (each client offers the ticket its previous connection got):
     tls_clients --mode resume → handshakes per proxy CPU-second, and the share resumed
  k  idle TLS keep-alive connections: tls_clients --mode idle opens N (a handshake and one GET
     each) and holds them; RSS of a fresh proxy before and 1 s after → KiB per connection

Results: results/tls.md and results/tls.json.
"""
import datetime
import json
import os
import re
import subprocess
import time

import bench as B

TLS_SCENARIOS = "hijk"
TITLES = {
    "h": "TLS keep-alive, small responses",
    "i": "full TLS 1.3 handshakes, a connection per request",
    "j": "resumed TLS 1.3 handshakes (session tickets)",
    "k": "idle TLS keep-alive connections",
}
HANDSHAKE_CLIENTS = 16
# Targets (issue #12 item 8): (h) CPU/request ≤ 0.9× the better peer's; (i), (j) handshakes per
# CPU-second ≥ 1.2× the better peer's; (k) KiB per idle connection ≤ half HAProxy's.
TARGETS = {"h": 0.9, "i": 1.2, "j": 1.2, "k": 0.5}
# Exported functions that mark one step of a server handshake in a profile (OpenSSL's internal
# functions have no symbols in Debian's build, so the steps are read at their public entry points).
PROFILE_STEPS = [
    ("whole TLS input path (handshake, then decrypting the request)", ["turnout::TlsEngine::feed"]),
    ("key share: X25519 key generation", ["EVP_PKEY_generate"]),
    ("key share: ECDH with the client's key", ["EVP_PKEY_derive", "EVP_PKEY_derive_init_ex", "EVP_PKEY_derive_set_peer_ex"]),
    ("CertificateVerify: ECDSA P-256 signature", ["EVP_DigestSignInit_ex", "EVP_DigestSignFinal"]),
    ("session ticket: session encoded", ["i2d_SSL_SESSION"]),
    ("session decoded", ["d2i_SSL_SESSION"]),
    ("ticket and key-schedule MACs (HMAC)", ["EVP_Q_mac", "HMAC_Init_ex"]),
    ("random bytes (nonces, ticket IVs)", ["EVP_RAND_generate"]),
    ("algorithm fetches from the provider", ["EVP_MD_fetch", "EVP_KDF_fetch", "EVP_MAC_fetch", "EVP_CIPHER_fetch"]),
    ("turnout's certificate pick (ClientHello callback)", ["turnout::(anonymous namespace)::on_client_hello"]),
    ("SSL object created and freed", ["SSL_new", "SSL_free"]),
    ("the request proxied (HTTP parse, upstream, response)", ["turnout::HttpParser::feed"]),
    ("TLS writes (encrypt + socket)", ["turnout::TlsTransport::flush_output"]),
    ("accepting connections", ["turnout::Acceptor::on_readable"]),
    ("all system calls (kernel)", ["do_syscall_64"]),
]


class TlsBench(B.Bench):
    """Bench with a TLS listener on each proxy besides its plaintext one (which the readiness
    check and everything inherited keep using)."""

    def __init__(self, args):
        super().__init__(args)
        self.results.update(tls_runs=[], tls_idle=[])
        d = os.path.join(self.tmp, "cert")
        os.makedirs(d)
        self.crt, self.key, self.pem = (os.path.join(d, n) for n in ("bench.crt", "bench.key", "bench.pem"))
        p = B.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-keyout", self.key, "-out", self.crt, "-days", "3", "-subj", "/CN=a.test",
                   "-addext", "subjectAltName=DNS:a.test,DNS:big.test"])
        if p.returncode != 0:
            raise SystemExit(f"openssl req failed: {p.stderr}")
        with open(self.pem, "w") as f:  # HAProxy: certificate and key in one file
            f.write(open(self.crt).read() + open(self.key).read())

    def tls_port(self, name):
        return self.ports.setdefault(name + "-tls", B.free_port())

    def turnout_conf(self, a_test_app="a", name="turnout"):
        text = super().turnout_conf(a_test_app, name)
        plain = f'"127.0.0.1:{self.ports[name]}"'
        text = text.replace(f"listen: [{plain}]",
                            f'listen: [{plain}, {{ addr: "127.0.0.1:{self.tls_port(name)}", tls: true }}]')
        return text + (f"tls:\n  certificates:\n    bench: {{ cert: {self.crt}, key: {self.key} }}\n"
                       "  default_certificate: bench\n")

    def nginx_conf(self, a_test_app="a"):
        text = super().nginx_conf(a_test_app)
        port = self.tls_port("nginx")
        # nginx's defaults for the rest: session tickets on (keys made at start), TLS 1.2/1.3.
        ssl = (f"  ssl_certificate {self.crt};\n  ssl_certificate_key {self.key};\n"
               "  ssl_protocols TLSv1.2 TLSv1.3;\n"
               f"  server {{ listen 127.0.0.1:{port} ssl backlog=4096 deferred default_server; server_name a.test; "
               f"location / {{ proxy_pass http://app_{a_test_app}; }} }}\n"
               f"  server {{ listen 127.0.0.1:{port} ssl; server_name big.test; location / {{ proxy_pass http://app_big; }} }}\n")
        i = text.rstrip().rfind("}")
        return text[:i] + ssl + text[i:]

    def haproxy_conf(self, a_side="blue", bufsize=None):
        text = super().haproxy_conf(a_side, bufsize)
        bind = f"  bind 127.0.0.1:{self.ports['haproxy']} defer-accept\n"
        text = text.replace(bind, bind + f"  bind 127.0.0.1:{self.tls_port('haproxy')} ssl crt {self.pem} "
                                          "alpn http/1.1 ssl-min-ver TLSv1.2 defer-accept\n")
        return text.replace("http-request set-header X-Forwarded-Proto http",
                            "http-request set-header X-Forwarded-Proto %[ssl_fc,iif(https,http)]")

    # ---- scenarios
    def tls_clients(self, port, *args):
        return [os.path.join(self.build, "bench", "tls_clients"), "--connect", f"127.0.0.1:{port}",
                "--host", "a.test"] + [str(a) for a in args]

    def tls_run(self, scen, target, rnd):
        self.ensure_up(target)
        self.haproxy_for("h")
        port = self.tls_port(target)
        root = self.proxies[target].pid
        cpu0 = B.tree_cpu(root)
        load = os.getloadavg()[0]
        t0, l0 = time.monotonic(), B.cpu_ticks(B.LOAD_CPU)
        secs = self.args.duration
        if scen == "h":
            r = B.wrk(port, secs, 50, "a.test", scheme="https")
            raw = r.pop("raw")
            n = r["requests"]
        else:
            p = B.run(self.tls_clients(port, "--mode", "new" if scen == "i" else "resume",
                                       "--conns", HANDSHAKE_CLIENTS, "--seconds", secs), timeout=secs + 120)
            raw = p.stdout + p.stderr
            kv = B.parse_kv(p.stdout)
            n = int(kv.get("handshakes", 0))
            r = dict(requests=n, failed=int(kv.get("failed", 0)), resumed=int(kv.get("resumed", 0)),
                     seconds=float(kv.get("seconds", secs)), errors=int(kv.get("failed", 0)))
            r["rps"] = n / r["seconds"] if r["seconds"] else 0.0
        cpu = B.tree_cpu(root) - cpu0
        wall = time.monotonic() - t0
        r.update(scenario=scen, target=target, round=rnd, loadavg=load, cpu_s=cpu,
                 cpu_us_per_req=(cpu * 1e6 / n) if n else None,
                 per_cpu_s=(n / cpu) if cpu > 0 else None,
                 proxy_busy_pct=100.0 * cpu / wall if wall > 0 else None,
                 load_cpu_busy_pct=B.busy_pct(l0, B.cpu_ticks(B.LOAD_CPU)),
                 rss_kib=self.rss_kib(target))
        if not n:
            B.log(f"  ({scen}) {target} measured nothing: {raw.strip()[:400]}")
        self.results["tls_runs"].append(r)
        extra = f"  resumed {r['resumed']}" if scen == "j" else ""
        B.log(f"  ({scen}) {target:8} round {rnd}: {r['rps']:8.0f}/s  cpu {B.fmt_num(r['cpu_us_per_req'], 1)} us each "
              f"= {B.fmt_num(r['per_cpu_s'])} per CPU-s  errors {r['errors']}{extra}  busy: proxy "
              f"{B.fmt_num(r['proxy_busy_pct'])}% load CPU {B.fmt_num(r['load_cpu_busy_pct'])}%  (load {load:.1f})")

    def tls_idle_run(self, target, rnd):
        n = self.args.tls_idle_conns
        self.restart(target)  # a fresh process: earlier scenarios' heaps do not hide the growth
        B.http_get(self.ports[target], "a.test")
        # One TLS exchange first, so what OpenSSL sets up once per process is in "before".
        B.run(self.tls_clients(self.tls_port(target), "--mode", "new", "--conns", 1, "--seconds", 0.2), timeout=60)
        time.sleep(0.5)
        pids = lambda: self.serving_pids(target)
        before = sum(B.vm_rss_kib(p) for p in pids())
        cl = B.PROCS.spawn(self.tls_clients(self.tls_port(target), "--mode", "idle", "--conns", n),
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = cl.stdout.readline().decode().strip()
        m = re.match(r"ready ok=(\d+) failed=(\d+) ms=(\d+)", line)
        time.sleep(1.0)
        after = sum(B.vm_rss_kib(p) for p in pids())
        cl.stdin.close()
        tail = cl.stdout.read().decode()
        cl.wait(60)
        B.PROCS.live.remove(cl)
        ok, failed = (int(m.group(1)), int(m.group(2))) if m else (0, n)
        closed = int(re.search(r"closed_by_peer=(\d+)", tail).group(1)) if "closed_by_peer" in tail else None
        r = dict(target=target, round=rnd, conns=n, ok=ok, failed=failed, open_ms=int(m.group(3)) if m else None,
                 closed_by_peer=closed, rss_before_kib=before, rss_after_kib=after,
                 kib_per_conn=(after - before) / ok if ok else None)
        self.results["tls_idle"].append(r)
        B.log(f"  (k) {target:8} round {rnd}: {ok}/{n} open in {r['open_ms']} ms, RSS {before / 1024:.1f} -> "
              f"{after / 1024:.1f} MiB = {B.fmt_num(r['kib_per_conn'], 2)} KiB/conn, closed by peer {closed}")

    def tls_memory(self):
        """What OpenSSL holds per idle connection in turnout's TLS layer (bench/tls_memory.cc)."""
        p = B.run([os.path.join(self.build, "bench", "tls_memory"), "--cert", self.crt, "--key", self.key], timeout=300)
        B.log("  (k) " + (p.stdout.strip().splitlines() or ["tls_memory: " + p.stderr.strip()])[-2])
        return p.stdout.strip() or p.stderr.strip()

    def profile(self, scen="i"):
        """perf (cpu-clock sampling, call graphs) on turnout during one handshake run: where its
        CPU per handshake goes. Writes tls-profile.md next to tls.md."""
        secs = self.args.duration
        self.ensure_up("turnout")
        pid = self.proxies["turnout"].pid
        data = os.path.join(self.tmp, f"perf-{scen}.data")
        rec = B.PROCS.spawn(["perf", "record", "-e", "cpu-clock", "-F", "1000", "--call-graph", "dwarf,16384", "-p", str(pid), "-o", data],
                            log_path=os.path.join(self.tmp, "perf.log"))
        time.sleep(0.5)
        cpu0 = B.tree_cpu(pid)
        p = B.run(self.tls_clients(self.tls_port("turnout"), "--mode", "new" if scen == "i" else "resume",
                                   "--conns", HANDSHAKE_CLIENTS, "--seconds", secs), timeout=secs + 120)
        cpu = B.tree_cpu(pid) - cpu0
        rec.send_signal(B.signal.SIGINT)
        rec.wait(120)
        B.PROCS.live.remove(rec)
        n = int(B.parse_kv(p.stdout).get("handshakes", 0))

        def report(*a):
            out = B.run(["perf", "report", "-i", data, "--stdio", "-g", "none"] + list(a), timeout=900).stdout
            return [re.sub(r"\s+-\s+-$", "", l.rstrip()) for l in out.splitlines() if l.strip() and not l.startswith("#")]
        L = [f"# Where turnout's CPU per TLS handshake goes — ({scen}) {TITLES[scen]}\n",
             f"`perf record -e cpu-clock -F 1000 --call-graph dwarf -p <turnout>` during a {secs} s run of `tls_clients --mode "
             f"{'new' if scen == 'i' else 'resume'} --conns {HANDSHAKE_CLIENTS}` (same pinning as tls.md). "
             f"{n} handshakes, {cpu * 1e6 / max(n, 1):.0f} CPU µs each under perf.\n",
             "By binary (self time):\n\n```"]
        L += report("--no-children", "--sort", "dso")[:8]
        L.append("```\n\nTop symbols (self time):\n\n```")
        L += report("--no-children", "--sort", "dso,symbol", "--percent-limit", "0.7")[:40]
        us = cpu * 1e6 / max(n, 1)
        incl = {}
        for l in report("--children", "--sort", "symbol", "--percent-limit", "0.05"):
            m = re.match(r"\s*([\d.]+)%\s+[\d.]+%\s+\[[.k]\]\s+(.+?)\s*$", l)
            if m:
                incl.setdefault(m.group(2), float(m.group(1)))
        L.append("```\n\nNamed steps of a handshake, inclusive (a step's callees included; steps can nest, so "
                 "they do not add up). µs per handshake = share × the CPU per handshake above:\n")
        L.append("| step | function(s) | share | µs/handshake |")
        L.append("|---|---|---:|---:|")
        for step, fns in PROFILE_STEPS:
            pct = sum(incl.get(fn, 0.0) for fn in fns)
            L.append(f"| {step} | `{'`, `'.join(fns)}` | {pct:.1f}% | {pct * us / 100:.0f} |")
        L.append("\nInclusive time of OpenSSL's and turnout's entry points (children included):\n\n```")
        L += [l for l in report("--children", "--sort", "symbol", "--percent-limit", "1.5")
              if re.search(r"\] (SSL_|ssl_|tls_|tls13_|ossl_statem|state_machine|X509_|EVP_|ossl_|evp_|OSSL_|CRYPTO_|"
                           r"ec_|ecx_|x25519|turnout::|uv_|__sys_|do_syscall_64|__x64_sys|tcp_)", l)][:45]
        L.append("```\n")
        path = os.path.join(self.args.out, "tls-profile.md")
        with open(path, "w") as f:
            f.write("\n".join(L) + "\n")
        B.log(f"  wrote {path}")


# ---------------------------------------------------------------- report
def summarize(results):
    out = {}
    for r in results["tls_runs"]:
        if r["requests"]:
            out.setdefault((r["scenario"], r["target"]), []).append(r)
    for r in results["tls_idle"]:
        if r["ok"]:
            out.setdefault(("k", r["target"]), []).append(r)
    s = {}
    for key, rs in out.items():
        if key[0] == "k":
            s[key] = dict(kib=B.median([r["kib_per_conn"] for r in rs]), ok=min(r["ok"] for r in rs),
                          failed=sum(r["failed"] for r in rs), rounds=len(rs))
        else:
            s[key] = dict(rate=B.median([r["rps"] for r in rs]), cpu=B.median([r["cpu_us_per_req"] for r in rs]),
                          per_cpu_s=B.median([r["per_cpu_s"] for r in rs]), p99=B.median([r.get("p99_ms") for r in rs]),
                          busy=B.median([r["proxy_busy_pct"] for r in rs]), errors=sum(r["errors"] for r in rs),
                          resumed=sum(r.get("resumed", 0) for r in rs), n=sum(r["requests"] for r in rs),
                          rounds=len(rs))
    return s


# The figure each scenario is judged by, and whether lower is better.
METRIC = {"h": ("cpu_us_per_req", "CPU µs/request", True), "i": ("per_cpu_s", "handshakes per CPU-s", False),
          "j": ("per_cpu_s", "handshakes per CPU-s", False), "k": ("kib_per_conn", "KiB per idle connection", True)}


def round_ratios(results):
    """{scenario: {peer: [turnout ÷ peer per round]}} on each scenario's metric."""
    out = {}
    for scen in TLS_SCENARIOS:
        key = METRIC[scen][0]
        rows = results["tls_idle"] if scen == "k" else [r for r in results["tls_runs"] if r["scenario"] == scen]
        by = {(r["target"], r["round"]): r.get(key) for r in rows}
        rounds = sorted({r["round"] for r in rows})
        if not rounds:
            continue
        out[scen] = {peer: [B.ratio(by.get(("turnout", n)), by.get((peer, n))) for n in rounds]
                     for peer in ("nginx", "haproxy")}
    return out


def verdicts(s, rr):
    """[(scenario, text, met)] against issue #12's targets, from the median per-round ratios."""
    out = []
    for scen in TLS_SCENARIOS:
        if scen not in rr:
            continue
        med = {p: B.median(v) for p, v in rr[scen].items()}
        want = TARGETS[scen]
        if scen == "k":
            v = med.get("haproxy")
            out.append((scen, f"turnout ÷ HAProxy {B.fmt_ratio(v)} (target ≤ {want}×)", v is not None and v <= want))
            continue
        _, label, lower = METRIC[scen]
        # The better peer is the one turnout's ratio is the least favourable against.
        vals = [v for v in med.values() if v is not None]
        if not vals:
            continue
        v = max(vals) if lower else min(vals)
        peer = [p for p, x in med.items() if x == v][0]
        met = v <= want if lower else v >= want
        out.append((scen, f"{label}: turnout ÷ the better peer ({peer}) {B.fmt_ratio(v)} "
                          f"(target {'≤' if lower else '≥'} {want}×)", met))
    return out


def write_report(b, path, started, finished, load_start, load_end):
    res = b.results
    s = summarize(res)
    rr = round_ratios(res)
    L = [f"# TLS benchmark: turnout vs nginx vs HAProxy — {started:%Y-%m-%d %H:%M} UTC\n",
         "Scenarios (h)-(k) of `bench/run.sh --scenarios hijk` (bench/README.md, ## TLS). One worker each, "
         f"proxy on CPU {B.PROXY_CPU}, clients and backends on CPU {B.LOAD_CPU}; " +
         "; ".join(x for x in (
             f"{b.args.rounds} interleaved rounds of ({', '.join(c for c in 'hij' if c in b.args.scenarios)}), "
             f"{b.args.duration} s each" if set("hij") & set(b.args.scenarios) else "",
             f"{b.args.other_rounds} of (k) with {b.args.tls_idle_conns} connections" if "k" in b.args.scenarios else "")
             if x) + ". "
         "One ECDSA P-256 certificate (openssl CLI), TLS 1.3 with X25519 from the clients. Ratios are "
         "turnout ÷ peer per round, then the median of the rounds.\n",
         f"Load average {load_start:.2f} at start, {load_end:.2f} at the end "
         f"({(finished - started).total_seconds() / 60:.1f} min).\n"]
    L.append("## Targets (issue #12 item 8)\n")
    L.append("| | scenario | result | met |")
    L.append("|---|---|---|---|")
    for scen, text, met in verdicts(s, rr):
        L.append(f"| {scen} | {TITLES[scen]} | {text} | {'yes' if met else '**no**'} |")
    for scen in "hij":
        if not any(k[0] == scen for k in s):
            continue
        L.append(f"\n## ({scen}) {TITLES[scen]}\n")
        if scen == "h":
            L.append("| target | req/s | CPU µs/request | p99 | proxy busy | errors | rounds |")
            L.append("|---|---:|---:|---:|---:|---:|---:|")
        else:
            L.append("| target | handshakes/s | CPU µs/handshake | handshakes per CPU-s | resumed | proxy busy | failed | rounds |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for t in B.PROXIES:
            x = s.get((scen, t))
            if not x:
                continue
            if scen == "h":
                L.append(f"| {t} | {x['rate']:,.0f} | {B.fmt_num(x['cpu'], 1)} | {B.fmt_ms(x['p99'])} | "
                         f"{B.fmt_pct(x['busy'])} | {x['errors']} | {x['rounds']} |")
            else:
                L.append(f"| {t} | {x['rate']:,.0f} | {B.fmt_num(x['cpu'], 1)} | {B.fmt_num(x['per_cpu_s'])} | "
                         f"{100.0 * x['resumed'] / x['n']:.0f}% | {B.fmt_pct(x['busy'])} | {x['errors']} | {x['rounds']} |")
        L.append("")
        for peer, vals in rr.get(scen, {}).items():
            L.append(f"- {METRIC[scen][1]}, turnout ÷ {peer} per round: " + ", ".join(B.fmt_ratio(v) for v in vals) +
                     f" → median {B.fmt_ratio(B.median(vals))}")
    if any(k[0] == "k" for k in s):
        L.append(f"\n## (k) {TITLES['k']}\n")
        L.append("| target | KiB per connection | connections open | failed | rounds |")
        L.append("|---|---:|---:|---:|---:|")
        for t in B.PROXIES:
            x = s.get(("k", t))
            if x:
                L.append(f"| {t} | {B.fmt_num(x['kib'], 2)} | {x['ok']} | {x['failed']} | {x['rounds']} |")
        L.append("")
        for peer, vals in rr.get("k", {}).items():
            L.append(f"- KiB per connection, turnout ÷ {peer} per round: " + ", ".join(B.fmt_ratio(v) for v in vals) +
                     f" → median {B.fmt_ratio(B.median(vals))}")
    if res.get("tls_memory"):
        L.append("\nWhere turnout's memory per idle TLS connection goes (`bench/tls_memory`: turnout's TlsEngine, "
                 "a TLS 1.3 handshake and one exchange in memory, every OpenSSL allocation counted):\n")
        L.append("```\n" + res["tls_memory"] + "\n```")
    L.append("\n## Versions\n")
    for k, v in res.get("versions", {}).items():
        L.append(f"- {k}: {v}")
    L.append(f"- OpenSSL: {B.run(['openssl', 'version']).stdout.strip()}")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def main(args):
    """Runs the TLS scenarios named in args.scenarios; writes tls.md and tls.json in args.out."""
    b = TlsBench(args)
    started = datetime.datetime.utcnow()
    load_start = os.getloadavg()[0]
    try:
        B.log(f"TLS scenarios in {b.tmp}; load average {load_start:.2f}")
        b.results["versions"] = B.versions(args.build)
        b.start_backends()
        for name in B.PROXIES:
            b.start(name)
        B.log("TLS listeners: " + ", ".join(f"{p} :{b.tls_port(p)}" for p in B.PROXIES))
        order_of = lambda rnd: B.PROXIES[(rnd - 1) % 3:] + B.PROXIES[:(rnd - 1) % 3]
        scen = [x for x in "hij" if x in args.scenarios]
        for rnd in range(1, args.rounds + 1):
            for sc in scen:
                B.log(f"round {rnd}/{args.rounds}, scenario ({sc}) {TITLES[sc]}")
                for t in order_of(rnd):
                    b.tls_run(sc, t, rnd)
                    time.sleep(0.5)
        if "k" in args.scenarios:
            for rnd in range(1, args.other_rounds + 1):
                B.log(f"round {rnd}/{args.other_rounds}, scenario (k) {args.tls_idle_conns} idle TLS connections")
                for t in order_of(rnd):
                    b.tls_idle_run(t, rnd)
            b.results["tls_memory"] = b.tls_memory()
        if args.profile:
            B.log("profiling turnout in (i)")
            b.profile("i")
    except KeyboardInterrupt:
        B.log("interrupted; writing what was measured")
    finally:
        B.PROCS.stop_all()
    save_results(b, args, "tls", started, load_start, round_ratios, write_report)
    return b


def save_results(b, args, name, started, load_start, ratios, report):
    """Writes <out>/<name>.json (every measurement, the machine, the settings, the per-round
    ratios) and <out>/<name>.md (report(b, path, started, finished, load_start, load_end))."""
    finished = datetime.datetime.utcnow()
    b.results.update(machine=B.machine(), started=started.isoformat(), finished=finished.isoformat(),
                     loadavg_start=load_start, loadavg_end=os.getloadavg()[0],
                     settings={k: v for k, v in vars(args).items()}, round_ratios=ratios(b.results))
    with open(os.path.join(args.out, f"{name}.json"), "w") as f:
        json.dump(b.results, f, indent=1, default=str)
    report(b, os.path.join(args.out, f"{name}.md"), started, finished, load_start, os.getloadavg()[0])
    B.log(f"wrote {args.out}/{name}.md, {name}.json")

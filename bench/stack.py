"""What each layer of the devbox costs, measured side by side in one run.

    .venv/bin/python -m bench.stack [--runs 3] [--duration 5] [--json results.json]

Runs on the host against the running devbox, and inside the guest (over SSH)
where a direct number is needed. Variants of one measure alternate run by run
(A, B, A, B, ...), so a noisy neighbour hurts both alike; the table gives
medians over the runs and the ratio of the medians. HTTP load comes from wrk
(Debian's), on the host through the forwarded port and in the guest against
nginx or gunicorn directly; Socket.IO round trips from bench.rtt, broadcast
fan-out to 100 and 1000 clients from bench.fanout (--post and --field name the
app's form that broadcasts). Last, the worker classes side by side: the guest
is switched to each in turn (DEVBOX_WORKER, as the test runner does), run by
run, and back to the configured one at the end; the same way 1, 2 and 4 app
instances (dynamic req/s and fan-out), nginx to one instance on a unix socket
and on TCP, and `fab reload` all at once and rolling with 3 instances. Any
app: the static file measured is one written into its static folder for the
run.
Bounded: every load has a fixed duration and a fixed number of connections,
and stays on loopback or inside the guest.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import shlex
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

from bench import fanout
from devbox.host import guest as devbox_guest
from devbox.host import tls
from devbox import settings as devbox_settings
from devbox.settings import ROOT

CONNECTIONS = 32
# Written into the app's static folder for the run: nginx and Flask's own
# static route both serve it, whatever the app.
STATIC_PROBE = "_devbox-bench.css"


def parse_wrk(text: str) -> dict:
    """Requests/s and failures from wrk's report."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {"rps": rps, "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}


def wrk_command(url: str, duration: int, close: bool = False) -> str:
    """wrk's command; ``close``: a new connection (a new TLS handshake over HTTPS) for every request."""
    header = '--header "Connection: close" ' if close else ""
    return f"wrk --threads 2 --connections {CONNECTIONS} --duration {duration}s {header}{url}"


def median(values):
    return statistics.median(values)


def new_connection_ms(url: str, count: int) -> float:
    """Median milliseconds of a new connection's first answer: TCP connect, the TLS
    handshake over HTTPS (checked against the host's trust store), one GET."""
    parts = urllib.parse.urlsplit(url)
    context = ssl.create_default_context(cafile=tls.client_ca(url)) if parts.scheme == "https" else None
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        if context:
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=10, context=context)
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        conn.request("GET", parts.path, headers={"Connection": "close"})
        conn.getresponse().read()
        samples.append(time.perf_counter() - started)
        conn.close()
    return round(median(samples) * 1000, 3)


class Bench:
    def __init__(self, runs: int, duration: float):
        self.s = devbox_settings.load()
        self.runs = runs
        self.duration = duration
        self.base_url = devbox_settings.base_url(self.s)
        # wrk takes the first address a name resolves to; localhost may be ::1.
        self.load_url = f"http://{self.s['host_ip']}:{self.s['host_port']}"
        self.guest = devbox_guest.connection()
        self.guest.config.run.in_stream = False

    def on_host(self, path: str, base: str | None = None, close: bool = False) -> dict:
        result = subprocess.run(shlex.split(wrk_command((base or self.load_url) + path, self.duration, close)),
                                capture_output=True, text=True, check=True)
        return parse_wrk(result.stdout)

    def in_guest(self, port: int, path: str) -> dict:
        return parse_wrk(self.guest.run(wrk_command(f"http://127.0.0.1:{port}{path}", self.duration), hide=True).stdout)

    def side_by_side(self, variants: dict) -> dict:
        """Run each variant (name -> callable returning a dict with 'rps') ``runs`` times, interleaved."""
        samples = {name: [] for name in variants}
        for _ in range(self.runs):
            for name, run in variants.items():
                samples[name].append(run())
        return samples

    def http(self, path: str) -> dict:
        p = self.s
        variants = {
            "through host port (nginx)": lambda: self.on_host(path),
            "guest -> nginx": lambda: self.in_guest(p["guest_port"], path),
        }
        if p["app_bind"] == "tcp":  # wrk speaks TCP only
            variants["guest -> gunicorn"] = lambda: self.in_guest(p["app_port"], path)
        samples = self.side_by_side(variants)
        return {name: {"rps_median": round(median([r["rps"] for r in runs])),
                       "failures": sum(r["non_2xx"] + r["socket_errors"] for r in runs)}
                for name, runs in samples.items()}

    def rtt(self, count: int) -> dict:
        root, venv, port = self.s["paths"]["synced"], self.s["paths"]["venv"], self.s["app_port"]
        variants = {"through host port": lambda: self.rtt_via_host(count)}
        if self.s["app_bind"] == "tcp":
            variants["guest -> gunicorn"] = lambda: json.loads(self.guest.run(
                f"cd {root} && {venv}/bin/python -m bench.rtt http://127.0.0.1:{port} --count {count}",
                hide=True).stdout)
        samples = self.side_by_side(variants)
        return {name: {"median_ms": round(median([r["median_ms"] for r in runs]), 3),
                       "p99_ms": round(median([r["p99_ms"] for r in runs]), 3), "messages": count * self.runs}
                for name, runs in samples.items()}

    def reload_under_load(self, reloads: int, rolling: bool = False) -> dict:
        """`fab reload` (``--rolling``) ``reloads`` times while wrk loads the forwarded port; failures counted."""
        report = {}

        def load():
            seconds = reloads * 4 + 2
            out = subprocess.run(wrk_command(self.load_url + "/", seconds).split(), capture_output=True, text=True)
            report.update(parse_wrk(out.stdout))

        loader = threading.Thread(target=load)
        loader.start()
        times, whole = [], []
        for _ in range(reloads):
            time.sleep(1)
            started = time.monotonic()
            result = subprocess.run([sys.executable, "-m", "fabric", "reload", *(["--rolling"] if rolling else [])],
                                    cwd=ROOT, capture_output=True, text=True, check=True)
            whole.append(time.monotonic() - started)  # a new process: Python, the settings and SSH too
            times.append(float(re.search(r"after ([\d.]+)s", result.stdout).group(1)))
        loader.join()
        return {"reloads": reloads, "median_s": round(median(times), 3), "max_s": round(max(times), 3),
                "command_median_s": round(median(whole), 3),
                "requests_during": round(report["rps"] * (reloads * 4 + 2)),
                "failed_requests": report["non_2xx"] + report["socket_errors"]}

    def crash_recovery(self, times: int) -> dict:
        """`kill -9` of the gunicorn master (or uWSGI vassal) under load (wrk on the forwarded port), then seconds until a new
        worker answers through that port."""
        samples = []
        for _ in range(times):
            health = devbox_guest.health(self.base_url)
            before = health["boot_id"]
            # The worker's master: gunicorn's, or under uWSGI its vassal's, which the emperor starts again.
            master = self.guest.run(f"ps -o ppid= -p {health['pid']}", hide=True).stdout.strip()
            loader = subprocess.Popen(wrk_command(self.load_url + "/", 4).split(), stdout=subprocess.DEVNULL)
            time.sleep(1)
            started = time.monotonic()
            self.guest.run(f"sudo kill -9 {master}", hide=True)

            def back():
                health = devbox_guest.health_or_none(self.base_url) or {}
                return health.get("status") == "ok" and health.get("boot_id") != before

            if not devbox_guest.wait_for(back, timeout=60, interval=0.01):
                raise SystemExit("bench: the app did not come back within 60 s of kill -9; see fab logs")
            samples.append(time.monotonic() - started)
            loader.wait()
        return {"runs": times, "median_s": round(median(samples), 2), "max_s": round(max(samples), 2)}

    def switch(self, **overrides: str | None) -> dict:
        """Re-provision the guest with these variables standing in for settings (DEVBOX_WORKER=...,
        as the test runner does; None: the configured value); returns the settings it then runs,
        once every app instance answers under them."""
        for name, value in overrides.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        subprocess.run(["vagrant", "provision"], cwd=ROOT, capture_output=True, check=True)
        settings = devbox_settings.load()

        def running():
            return all(h and h["worker"] == settings["worker"] and h["status"] == "ok"
                       for h in devbox_guest.instance_healths(settings).values())

        if not devbox_guest.wait_for(running, 60):
            raise SystemExit(f"bench: the app did not answer at {self.base_url} after switching to {overrides}; "
                             "see fab logs")
        return settings

    def rtt_via_host(self, count: int, base: str | None = None) -> dict:
        return json.loads(subprocess.run([sys.executable, "-m", "bench.rtt", base or self.base_url, "--count",
                                          str(count)], cwd=ROOT, capture_output=True, text=True, check=True).stdout)

    def schemes(self, messages: int, rounds: int, form: tuple[str, str], connections: int = 200) -> dict:
        """HTTPS against HTTP through their host ports, interleaved run by run: static
        with and without keep-alive, dynamic, round trip, broadcast to 1000 clients,
        and what a new connection costs (connect, handshake, one static request)."""
        static = self.s["app"]["static"]["url"] + STATIC_PROBE
        bases = {"http": self.load_url, "https": f"https://{self.s['host_ip']}:{self.s['https_host_port']}"}

        def figures(base):
            rtt = self.rtt_via_host(messages, base)
            return {"static_rps": self.on_host(static, base)["rps"],
                    "static_new_connections_rps": self.on_host(static, base, close=True)["rps"],
                    "dynamic_rps": self.on_host("/", base)["rps"],
                    "rtt_median_ms": rtt["median_ms"], "rtt_p99_ms": rtt["p99_ms"],
                    "fanout_1000_median_ms": fanout.measure(base, 1000, rounds, *form)["median_ms"],
                    "new_connection_ms": new_connection_ms(base + static, connections)}

        samples = self.side_by_side({scheme: (lambda base=base: figures(base)) for scheme, base in bases.items()})
        return {scheme: {key: round(median([run[key] for run in runs]), 3) for key in runs[0]}
                for scheme, runs in samples.items()}

    def workers(self, workers: list[str], messages: int, rounds: int, form: tuple[str, str]) -> dict:
        """Dynamic page, RTT and fan-out through 8001 for each worker class, interleaved run by run."""
        return self.variants({w: {"DEVBOX_WORKER": w} for w in workers}, messages, rounds, form)

    def servers(self, messages: int, rounds: int, form: tuple[str, str]) -> dict:
        """gunicorn's gevent worker against uWSGI's gevent loop, as workers() does, with
        `fab reload` (idle, after a save) and each instance's memory."""
        return self.variants({"gunicorn (gevent)": {"DEVBOX_WORKER": "gevent"},
                              "uwsgi (gevent)": {"DEVBOX_SERVER": "uwsgi"}}, messages, rounds, form, extra=True)

    def variants(self, variants: dict[str, dict], messages: int, rounds: int, form: tuple[str, str],
                 extra: bool = False) -> dict:
        runs = {name: [] for name in variants}
        try:
            for _ in range(self.runs):
                for name, overrides in variants.items():
                    self.switch(**{"DEVBOX_WORKER": None, "DEVBOX_SERVER": None, **overrides})
                    run = {"dynamic_rps": self.on_host("/")["rps"]}
                    rtt = self.rtt_via_host(messages)
                    run.update(rtt_median_ms=rtt["median_ms"], rtt_p99_ms=rtt["p99_ms"])
                    for n in (100, 1000):
                        spread = fanout.measure(self.load_url, n, rounds, *form)
                        run.update({f"fanout_{n}_{q}_ms": spread[f"{q}_ms"] for q in ("median", "p99")})
                    if extra:
                        run.update(reload_s=self.idle_reload(), rss_mib=self.instance_rss_mib())  # a fresh worker's memory
                    runs[name].append(run)
        finally:
            self.switch(DEVBOX_WORKER=None, DEVBOX_SERVER=None)
        result = {n: {key: round(median([run[key] for run in rs]), 3) for key in rs[0]} for n, rs in runs.items()}
        for figures in result.values():
            figures["dynamic_rps"] = round(figures["dynamic_rps"])
        return result

    def idle_reload(self) -> float:
        """Seconds of `fab reload` to new code after a save, as it reports them."""
        next((ROOT / self.s["app"]["folder"]).rglob("*.py")).touch()
        out = subprocess.run([sys.executable, "-m", "fabric", "reload"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
        return float(out.rsplit(" after ", 1)[1].split("s", 1)[0])

    def instance_rss_mib(self) -> float:
        """The first instance's resident memory, every process of its unit (master and worker; uWSGI's
        emperor, vassal master and worker), in MiB (ps in the guest), once a retired worker (or
        vassal) is gone: the main process has one child."""
        guests = devbox_guest.Guests(self.s)
        try:
            unit = self.s["app_units"][0]
            command = (f"pid=$(systemctl show -p MainPID --value {unit}); kids=$(ps -o pid= --ppid $pid | "
                       "tr -d ' ' | paste -sd,); echo $kids; ps -o rss= -p $pid --ppid \"$pid${kids:+,$kids}\"")
            out = []

            def settled():
                out[:] = guests.of_instance(1).run(command, hide=True).stdout.split("\n", 1)
                return "," not in out[0]
            if not devbox_guest.wait_for(settled, timeout=30):
                raise SystemExit(f"bench: {unit} still has more than one worker after 30 s: {out}")
            out = out[1].split()
        finally:
            guests.close()
        return round(sum(int(x) for x in out) / 1024, 1)

    def scaling(self, counts: list[int], clients: list[int], rounds: int, form: tuple[str, str]) -> dict:
        """Dynamic req/s and broadcast fan-out through 8001 at each number of app instances,
        interleaved run by run. A fan-out that completes lost no message: each client must
        get every broadcast."""
        runs = {n: [] for n in counts}
        try:
            for _ in range(self.runs):
                for n in counts:
                    self.switch(DEVBOX_INSTANCES=str(n))
                    run = {"dynamic_rps": self.on_host("/")["rps"]}
                    for c in clients:
                        spread = fanout.measure(self.load_url, c, rounds, *form, procs=2 if c > 2000 else 1)
                        run.update({f"fanout_{c}_{q}_ms": spread[f"{q}_ms"] for q in ("median", "p99")})
                    runs[n].append(run)
        finally:
            self.switch(DEVBOX_INSTANCES=None)
        return {n: {key: round(median([run[key] for run in rs]), 1) for key in rs[0]} for n, rs in runs.items()}

    def binds(self, messages: int) -> dict:
        """Socket.IO round trip and dynamic req/s through 8001 with nginx reaching one
        instance on a unix socket and on TCP, interleaved run by run."""
        runs = {bind: [] for bind in devbox_settings.APP_BINDS}
        try:
            for _ in range(self.runs):
                for bind in runs:
                    self.switch(DEVBOX_APP_BIND=bind, DEVBOX_INSTANCES="1")
                    rtt = self.rtt_via_host(messages)
                    runs[bind].append({"rtt_median_ms": rtt["median_ms"], "rtt_p99_ms": rtt["p99_ms"],
                                       "dynamic_rps": self.on_host("/")["rps"]})
        finally:
            self.switch(DEVBOX_APP_BIND=None, DEVBOX_INSTANCES=None)
        return {b: {key: round(median([run[key] for run in rs]), 3) for key in rs[0]} for b, rs in runs.items()}

    def reload_modes(self, instances: int, reloads: int) -> dict:
        """`fab reload` all at once and `--rolling`, under load, with ``instances`` instances."""
        try:
            self.switch(DEVBOX_INSTANCES=str(instances))
            return {"instances": instances,
                    **{mode: self.reload_under_load(reloads, rolling=mode == "rolling") for mode in ("all", "rolling")}}
        finally:
            self.switch(DEVBOX_INSTANCES=None)

    def nodes(self, count: int, messages: int, clients: int, rounds: int, form: tuple[str, str],
              reloads: int) -> dict:
        """The same ``count`` app instances in one guest and on ``count`` app guests (nodes),
        interleaved run by run: dynamic req/s, Socket.IO round trip and broadcast fan-out
        through 8001, `fab reload` under load. The app guests are made first and destroyed after."""
        topologies = {f"{count} instances, one guest": {"DEVBOX_INSTANCES": str(count), "DEVBOX_NODES": None},
                      f"{count} app guests": {"DEVBOX_INSTANCES": None, "DEVBOX_NODES": str(count)}}
        app_guests = ["vagrant", "destroy", "-f", "/^app[0-9]+$/"]
        subprocess.run(["vagrant", "up"], cwd=ROOT, capture_output=True, check=True,
                       env={**os.environ, "DEVBOX_NODES": str(count)})
        runs = {name: [] for name in topologies}
        try:
            for _ in range(self.runs):
                for name, overrides in topologies.items():
                    self.switch(**overrides)
                    rtt = self.rtt_via_host(messages)
                    spread = fanout.measure(self.load_url, clients, rounds, *form)
                    reload = self.reload_under_load(reloads)
                    runs[name].append({"dynamic_rps": self.on_host("/")["rps"], "rtt_median_ms": rtt["median_ms"],
                                       "rtt_p99_ms": rtt["p99_ms"], f"fanout_{clients}_median_ms": spread["median_ms"],
                                       f"fanout_{clients}_p99_ms": spread["p99_ms"], "reload_median_s": reload["median_s"],
                                       "reload_failed_requests": reload["failed_requests"]})
        finally:
            self.switch(DEVBOX_INSTANCES=None, DEVBOX_NODES=None)
            subprocess.run(app_guests, cwd=ROOT, capture_output=True, env={**os.environ, "DEVBOX_NODES": str(count)})
        return {name: {key: round(median([run[key] for run in rs]), 3) for key in rs[0]} for name, rs in runs.items()}

    def timed(self, command: list[str], times: int) -> dict:
        samples = []
        for _ in range(times):
            started = time.monotonic()
            subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
            samples.append(time.monotonic() - started)
        return {"runs": times, "median_s": round(median(samples), 2), "max_s": round(max(samples), 2)}

    def timed_side_by_side(self, commands: dict[str, list[str]]) -> dict:
        """Each command timed ``runs`` times, interleaved (:meth:`side_by_side`)."""
        samples = self.side_by_side({name: lambda command=command: self.timed(command, 1)["median_s"]
                                     for name, command in commands.items()})
        return {name: {"runs": len(runs), "median_s": round(median(runs), 2), "max_s": round(max(runs), 2)}
                for name, runs in samples.items()}


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x"


def table(r: dict, port: int) -> str:
    host, nginx, app = "through host port (nginx)", "guest -> nginx", "guest -> gunicorn"
    via = f"via {port}"
    rows = []
    # gunicorn direct only with app_bind: tcp (wrk and bench.rtt speak TCP).
    if "static" in r:
        st = r["static"]
        flask = (f"; {st[app]['rps_median']} Flask in guest", f"nginx via host port / Flask: "
                 f"{ratio(st[host]['rps_median'], st[app]['rps_median'])}") if app in st else ("", "")
        rows.append((f"static {STATIC_PROBE} (1.5 kB), req/s", f"{st[host]['rps_median']} {via} (nginx); "
                     f"{st[nginx]['rps_median']} nginx in guest{flask[0]}", flask[1]))
    if "dynamic" in r:
        dy = r["dynamic"]
        direct = (f"; {dy[app]['rps_median']} gunicorn direct", f"{via} / direct: "
                  f"{ratio(dy[host]['rps_median'], dy[app]['rps_median'])}") if app in dy else ("", "")
        rows.append(("dynamic /, req/s", f"{dy[host]['rps_median']} {via}; {dy[nginx]['rps_median']} nginx in guest"
                     f"{direct[0]}", direct[1]))
    if "rtt" in r:
        through, direct = r["rtt"]["through host port"], r["rtt"].get("guest -> gunicorn")
        rows.append(("Socket.IO round trip, ms", f"median {through['median_ms']} / p99 {through['p99_ms']} {via}"
                     + (f"; median {direct['median_ms']} / p99 {direct['p99_ms']} direct" if direct else ""),
                     f"{via} / direct (median): {ratio(through['median_ms'], direct['median_ms'])}" if direct else ""))
    if "reload" in r:
        rl = r["reload"]
        rows.append(("fab reload -> new code, under load (the whole command: Python, settings, SSH)",
                     f"median {rl['median_s']} s ({rl['command_median_s']} s), max {rl['max_s']} s over {rl['reloads']}",
                     f"{rl['failed_requests']} failed of ~{rl['requests_during']} requests"))
    if "crash" in r:
        rows.append(("kill -9 of the instance's master (gunicorn's, or its uWSGI vassal's) under load -> new worker answering",
                     f"median {r['crash']['median_s']} s, max {r['crash']['max_s']} s over {r['crash']['runs']}", ""))
    if "provision" in r:
        fab, vagrant = r["provision"]["fab"], r["provision"]["vagrant"]
        rows.append(("no-op re-provision: fab provision / vagrant provision",
                     f"median {fab['median_s']} / {vagrant['median_s']} s",
                     f"fab / vagrant: {ratio(fab['median_s'], vagrant['median_s'])}"))
    for f in r.get("fanout", []):
        rows.append((f"broadcast to {f['clients']} clients, until all have it",
                     f"median {f['median_ms']} ms, p99 {f['p99_ms']} ms over {f['rounds']} messages", ""))
    if "binds" in r:
        unix, tcp = r["binds"]["unix"], r["binds"]["tcp"]
        rows.append(("Socket.IO round trip via 8001, nginx to one instance on a unix socket / on TCP, ms",
                     f"median {unix['rtt_median_ms']} / {tcp['rtt_median_ms']}, p99 {unix['rtt_p99_ms']} / "
                     f"{tcp['rtt_p99_ms']}; dynamic {unix['dynamic_rps']:.0f} / {tcp['dynamic_rps']:.0f} req/s",
                     f"unix / TCP (median): {ratio(unix['rtt_median_ms'], tcp['rtt_median_ms'])}"))
    if "nodes" in r:
        (one, guest), (apart, guests) = r["nodes"].items()
        fan = next(key for key in guest if key.startswith("fanout_"))
        for label, key in (("dynamic /, req/s", "dynamic_rps"), ("Socket.IO round trip, median ms", "rtt_median_ms"),
                           (f"broadcast to {fan.split('_')[1]} clients, median ms", fan),
                           ("fab reload under load, median s", "reload_median_s")):
            rows.append((f"{label}: {one} / {apart}", f"{guest[key]} / {guests[key]}",
                         f"apart / one guest: {ratio(guests[key], guest[key])}"))
        rows.append((f"failed requests during the reloads: {one} / {apart}",
                     f"{guest['reload_failed_requests']} / {guests['reload_failed_requests']}", ""))
    if "reload_modes" in r:
        rm = r["reload_modes"]
        for mode, label in (("all", "all at once"), ("rolling", "--rolling")):
            m = rm[mode]
            rows.append((f"fab reload {label}, {rm['instances']} instances, under load",
                         f"median {m['median_s']} s, max {m['max_s']} s over {m['reloads']}",
                         f"{m['failed_requests']} failed of ~{m['requests_during']} requests"))
    if "up" in r:
        rows.append(("fab up from halted -> the app answering", f"median {r['up']['median_s']} s", ""))
    lines = ["| measure | figures | ratio / result |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    for key, label in (("workers", "worker"), ("servers", "server")):
        if not r.get(key):
            continue
        w = r[key]
        first = next(iter(w.values()))
        more = "reload_s" in first
        lines += ["", f"| {label}, all {via} | dynamic /, req/s | round trip median / p99, ms "
                  "| broadcast to 100, median / p99 ms | broadcast to 1000, median / p99 ms |"
                  + (" fab reload, s | memory per instance, MiB |" if more else ""),
                  "|---|---|---|---|---|" + ("---|---|" if more else "")]
        lines += [f"| {name} | {v['dynamic_rps']} ({ratio(v['dynamic_rps'], first['dynamic_rps'])}) "
                  f"| {v['rtt_median_ms']} / {v['rtt_p99_ms']} | {v['fanout_100_median_ms']} / {v['fanout_100_p99_ms']} "
                  f"| {v['fanout_1000_median_ms']} / {v['fanout_1000_p99_ms']} |"
                  + (f" {v['reload_s']} | {v['rss_mib']} |" if more else "") for name, v in w.items()]
    if r.get("schemes"):
        h, t = r["schemes"]["http"], r["schemes"]["https"]
        lines += ["", "| through the host ports | HTTP | HTTPS | HTTPS / HTTP |", "|---|---|---|---|"]
        for label, key in (("static file, req/s, keep-alive", "static_rps"),
                           ("static file, req/s, a new connection each", "static_new_connections_rps"),
                           ("dynamic /, req/s, keep-alive", "dynamic_rps"),
                           ("Socket.IO round trip, median ms", "rtt_median_ms"),
                           ("Socket.IO round trip, p99 ms", "rtt_p99_ms"),
                           ("broadcast to 1000 clients, median ms", "fanout_1000_median_ms"),
                           ("a new connection's first answer, median ms", "new_connection_ms")):
            lines.append(f"| {label} | {h[key]:g} | {t[key]:g} | {ratio(t[key], h[key])} |")
    if r.get("scaling"):
        sc = r["scaling"]
        one = sc[min(sc)]
        clients = sorted({int(k.split("_")[1]) for k in one if k.startswith("fanout_")})
        lines += ["", f"| instances, all {via} | dynamic /, req/s | "
                  + " | ".join(f"broadcast to {c}, median / p99 ms" for c in clients) + " |",
                  "|---|---|" + "---|" * len(clients)]
        lines += [f"| {n} | {v['dynamic_rps']:.0f} ({ratio(v['dynamic_rps'], one['dynamic_rps'])}) | "
                  + " | ".join(f"{v[f'fanout_{c}_median_ms']} / {v[f'fanout_{c}_p99_ms']}" for c in clients) + " |"
                  for n, v in sorted(sc.items())]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per variant (default 3)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--messages", type=int, default=2000, help="Socket.IO round trips per run (default 2000)")
    parser.add_argument("--reloads", type=int, default=10)
    parser.add_argument("--with-up", action="store_true", help="also time vagrant halt + up (about 20 s a run)")
    parser.add_argument("--workers", default=",".join(devbox_settings.WORKERS),
                        help="worker classes to compare, comma-separated ('' to skip; default: all)")
    parser.add_argument("--only", help="comma-separated subset of: static,dynamic,rtt,reload,fanout,provision,crash,"
                                       "workers,servers,scaling,binds,reload_modes,nodes,schemes")
    parser.add_argument("--post", default=fanout.POST, help=f"the app's form that broadcasts (default {fanout.POST})")
    parser.add_argument("--field", default=fanout.FIELD, help=f"its text field (default {fanout.FIELD})")
    parser.add_argument("--instances", default="1,2,4", help="app instances to compare (default 1,2,4)")
    parser.add_argument("--clients", default="1000",
                        help="fan-out clients at each number of instances (default 1000; 10000 needs max_clients "
                             "above it in devbox.yaml)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # a descriptor per fan-out client
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        bench = Bench(args.runs, args.duration)
    except (devbox_guest.GuestError, devbox_settings.SettingsError) as exc:
        raise SystemExit(f"bench: {exc}") from None
    workers = [w for w in args.workers.split(",") if w]
    unknown = set(workers) - set(devbox_settings.WORKERS)
    if unknown:
        raise SystemExit(f"bench: no worker class {', '.join(sorted(unknown))}; use {', '.join(devbox_settings.WORKERS)}")
    measures = {
        "static": lambda: bench.http(bench.s["app"]["static"]["url"] + STATIC_PROBE),
        "dynamic": lambda: bench.http("/"),
        "rtt": lambda: bench.rtt(args.messages),
        "reload": lambda: bench.reload_under_load(args.reloads),
        "fanout": lambda: [fanout.measure(bench.load_url, n, 20, args.post, args.field) for n in (100, 1000)],
        # What a developer runs, beside what it saves them from; interleaved.
        "provision": lambda: bench.timed_side_by_side({"fab": [sys.executable, "-m", "fabric", "provision"],
                                                       "vagrant": ["vagrant", "provision"]}),
        "crash": lambda: bench.crash_recovery(max(5, args.runs)),
        "workers": lambda: bench.workers(workers, args.messages, 10, (args.post, args.field)) if workers else {},
        "servers": lambda: bench.servers(args.messages, 10, (args.post, args.field)),
        "scaling": lambda: bench.scaling([int(n) for n in args.instances.split(",")],
                                         [int(c) for c in args.clients.split(",")], 10, (args.post, args.field)),
        "binds": lambda: bench.binds(args.messages),
        "reload_modes": lambda: bench.reload_modes(3, args.reloads),
        "nodes": lambda: bench.nodes(2, args.messages, 1000, 10, (args.post, args.field), 3),
        "schemes": lambda: bench.schemes(args.messages, 10, (args.post, args.field)) if bench.s["tls"] else {},
    }
    only = args.only.split(",") if args.only else list(measures)
    if set(only) - set(measures):
        raise SystemExit(f"bench: --only takes {','.join(measures)}")
    probe = ROOT / bench.s["app"]["static"]["folder"] / STATIC_PROBE
    probe.write_text("/* devbox benchmark probe */\n" + "body { margin: 0; }\n" * 75)
    guests = devbox_guest.Guests(bench.s)
    guests.copy_files([str(probe.relative_to(ROOT))])  # a VM's copy of the folder (libvirt) gets it too
    results = {}
    try:
        for name in only:
            results[name] = measures[name]()
            # Each measure as it ends: a later one that fails loses no figures.
            print(f"{name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)
    finally:
        probe.unlink(missing_ok=True)
        guests.copy_files([str(probe.relative_to(ROOT))])
        guests.close()
    if args.with_up:
        samples = []
        for _ in range(args.runs):
            subprocess.run(["vagrant", "halt"], cwd=ROOT, capture_output=True, check=True)
            samples.append(bench.timed([sys.executable, "-m", "fabric", "up"], 1)["median_s"])
        results["up"] = {"runs": args.runs, "median_s": round(median(samples), 2)}
    print(table(results, bench.s["host_port"]))
    print(json.dumps(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()

"""Is the gunicorn master's preloading as safe as a worker's own import, under eventlet's monkey patching?

    .venv/bin/python -m bench.preload

Starts two extra gunicorns in the guest, on loopback ports of their own, each
serving the configured app (app.wsgi) behind a probe (bench/patch_probe.py),
loaded by devbox's entry point with devbox's gunicorn hooks and the eventlet
worker, as the app unit runs it: one master that preloads nothing, and one that
preloads what its first worker recorded (after a HUP, the worker serving is
forked from that master). In each worker the probe lists every loaded module
that holds an unpatched ("original") socket, lock, thread, select or sleep,
which would block the whole worker when called. Prints both, and whether they
are the same. Needs the eventlet venv in the guest (worker: eventlet).
"""

from __future__ import annotations

import json
import shlex
import sys

from devbox import settings as devbox_settings
from devbox.host import guest as devbox_guest

PORTS = (5191, 5192)


def run_in_guest(conn, settings) -> dict:
    root, venv, name = settings["paths"]["synced"], settings["paths"]["venv"], settings["name"]
    folder = f"{root}/{settings['app']['folder']}"
    record = "/tmp/devbox-bench-preload.txt"
    config = settings["paths"]["config"]
    # The app's own environment, as its unit has it, with its data in a scratch folder.
    env = {"PYTHONPATH": root, "PROBE_TARGET": settings["app"]["wsgi"], "DEVBOX_WSGI": "bench.patch_probe:probe",
           "DEVBOX_STATIC": "/nonexistent", "DEVBOX_WORKER": "eventlet", "DATA_DIR": "/tmp/devbox-bench-preload-data"}
    results = {}
    conn.run(f"sudo rm -rf {record} /tmp/devbox-bench-preload-* && sudo -u {name} mkdir {env['DATA_DIR']}", hide=True)
    for port, preload in zip(PORTS, (False, True)):
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        if preload:
            assignments += f" DEVBOX_PRELOAD_RECORD={record}"
        command = (f"set -a && . {config}/secret.env && . {config}/app.env && set +a && cd {shlex.quote(folder)} && "
                   f"exec env {assignments} {venv}/bin/gunicorn devbox.appserver.wsgi:application "
                   f"--config python:devbox.appserver.gunicorn_conf "
                   f"--worker-class devbox.appserver.workers.eventlet_worker.EventletWorker --bind 127.0.0.1:{port} "
                   f"--no-control-socket --daemon --pid /tmp/devbox-bench-preload-{port}.pid "
                   f"--error-logfile /tmp/devbox-bench-preload-{port}.log")
        conn.run(f"sudo -u {name} bash -c {shlex.quote(command)}", hide=True)
    try:
        ask = "for _ in $(seq 100); do curl -fsS 127.0.0.1:{port}/ && exit 0; sleep 0.1; done; exit 1"
        results["plain"] = json.loads(conn.run(ask.format(port=PORTS[0]), hide=True).stdout)
        conn.run(ask.format(port=PORTS[1]), hide=True)  # the first worker records the app's imports
        conn.run(f"sudo kill -HUP $(cat /tmp/devbox-bench-preload-{PORTS[1]}.pid) && sleep 3", hide=True)
        results["preloaded"] = json.loads(conn.run(ask.format(port=PORTS[1]), hide=True).stdout)
        results["preload_log"] = conn.run(f"grep -o 'devbox: preloaded.*' /tmp/devbox-bench-preload-{PORTS[1]}.log"
                                          " | tail -1", hide=True, warn=True).stdout.strip()
    finally:
        for port in PORTS:
            conn.run(f"sudo kill $(cat /tmp/devbox-bench-preload-{port}.pid)", hide=True, warn=True)
    return results


def main() -> int:
    settings = devbox_settings.load()
    if settings["worker"] != "eventlet":
        raise SystemExit("bench.preload: needs worker: eventlet (DEVBOX_WORKER=eventlet vagrant provision first)")
    conn = devbox_guest.connection()
    conn.config.run.in_stream = False
    results = run_in_guest(conn, settings)
    plain, preloaded = results["plain"], results["preloaded"]
    print(f"app {settings['app']['wsgi']}, eventlet worker")
    print(f"worker of a plain master:      {plain['modules']} modules, socket patched {plain['socket_patched']}, "
          f"modules holding an unpatched primitive: {plain['holders'] or 'none'}")
    print(f"worker of a preloading master: {preloaded['modules']} modules, socket patched "
          f"{preloaded['socket_patched']}, modules holding an unpatched primitive: {preloaded['holders'] or 'none'}")
    print(f"master: {results['preload_log']}")
    same = plain["holders"] == preloaded["holders"] and plain["modules"] == preloaded["modules"]
    print("same: yes" if same else "same: NO")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

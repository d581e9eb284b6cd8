"""In a guest worker, for bench.preload: the configured app loaded, and a WSGI
app that lists the loaded modules holding an unpatched (original) socket, lock,
thread, select or sleep. Runs in the app's venv: eventlet and gunicorn only."""

import json
import os
import sys

from eventlet import patcher
from gunicorn.util import import_app

# Kept by eventlet itself: its copies of the original modules, by design.
EVENTLET_OWN = "__original_module_"
PATCHED = {"time": ["sleep"], "socket": ["socket", "create_connection"], "select": ["select", "poll"],
           "threading": ["Lock", "RLock", "Event", "Thread", "Condition", "local"],
           "_thread": ["allocate_lock", "start_new_thread"], "queue": ["Queue"]}

import_app(os.environ["PROBE_TARGET"])
ORIGINALS = {}
for _module, _names in PATCHED.items():
    _original = patcher.original(_module)
    ORIGINALS.update({id(getattr(_original, n)): f"{_module}.{n}" for n in _names if hasattr(_original, n)})


def probe(environ, start_response):
    holders = {}
    for name, module in list(sys.modules.items()):
        if module is None or name.startswith(EVENTLET_OWN) or name.split(".")[0] in ("eventlet", *PATCHED):
            continue
        held = sorted({ORIGINALS[id(v)] for v in list(vars(module).values()) if id(v) in ORIGINALS})
        if held:
            holders[name] = held
    body = json.dumps({"modules": len(sys.modules), "socket_patched": patcher.is_monkey_patched("socket"),
                       "holders": holders}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]

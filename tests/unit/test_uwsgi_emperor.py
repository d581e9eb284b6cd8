"""devbox.appserver.uwsgi_emperor: the instance's socket, made once and handed on as descriptor 3."""

import os
import socket
import subprocess
import sys

from devbox.settings import ROOT

# Run as the emperor would be: it reports what it was given.
REPORT = """
import os, socket, stat, sys
listener = socket.socket(fileno=3)
print(listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), listener.getsockname())
print(os.environ["DEVBOX_EMPEROR_PID"] == str(os.getpid()))
if len(sys.argv) > 1:
    print(oct(stat.S_IMODE(os.stat(sys.argv[1]).st_mode)))
"""


def start(bind, *args):
    return subprocess.run([sys.executable, "-m", "devbox.appserver.uwsgi_emperor", bind, "16", "--", sys.executable,
                           "-c", REPORT, *args], cwd=ROOT, capture_output=True, text=True, timeout=30)


def test_a_unix_socket_listens_on_descriptor_3_for_every_user_in_its_folder(tmp_path):
    path = tmp_path / "1.sock"
    path.write_text("left by an instance that crashed")
    result = start(f"unix:{path}", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == [f"1 {path}", "True", "0o666"]


def test_a_tcp_port_listens_on_descriptor_3():
    result = start("127.0.0.1:0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1 ('127.0.0.1', ") and "\nTrue\n" in result.stdout


def test_a_port_in_use_is_one_line():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = start(f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stderr == (f"devbox: cannot listen on 127.0.0.1:{port}: Address already in use; "
                             "is another app server still running there?\n")

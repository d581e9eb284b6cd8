"""The provisioning scripts' helpers (provision/guest/lib.sh), run in bash on
the host: a file that cannot be written stops provisioning, even where the
caller tests the result in an `if` (where set -e does not reach)."""

import subprocess

from devbox.settings import ROOT

LIB = ROOT / "provision" / "guest" / "lib.sh"


def bash(script):
    return subprocess.run(["bash", "-c", f"set -euo pipefail; source {LIB}; {script}"], capture_output=True,
                          text=True, timeout=30)


def test_install_file_says_whether_it_changed_anything(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "sub" / "dest"
    src.write_text("one\n")
    check = f"if install_file {src} {dest}; then echo changed; else echo unchanged; fi"
    assert bash(check).stdout == "changed\n"
    assert bash(check).stdout == "unchanged\n"
    src.write_text("two\n")
    assert bash(check).stdout == "changed\n"
    assert dest.read_text() == "two\n"


def test_a_file_that_cannot_be_written_stops_provisioning(tmp_path):
    (tmp_path / "src").write_text("x\n")
    result = bash(f"if install_file {tmp_path / 'src'} /proc/devbox-test/dest; then echo changed; "
                  "else echo unchanged; fi; echo carried-on")
    assert result.returncode == 1
    assert result.stdout == ""  # neither "unchanged" nor anything after it
    assert result.stderr.strip().endswith("devbox: could not write /proc/devbox-test/dest")


def test_each_template_a_step_renders_has_its_file_in_the_settings(settings, raw):
    import re
    import shlex

    from devbox.settings import shell_exports, validate

    scripts = "\n".join(path.read_text() for path in (ROOT / "provision" / "guest").rglob("*.sh"))
    rendered = set(re.findall(r"\brender ([\w/@.-]+\.j2)", scripts))
    # Some only with some settings: the refresh hub's in dev_mode, uWSGI's ini with server: uwsgi.
    uwsgi = validate({**raw, "server": "uwsgi", "worker": "gevent"})
    assert rendered and rendered == {*settings["rendered"], *uwsgi["rendered"], "refresh/refresh.service.j2"}
    # lib.sh finds each file from the exported settings, as the steps do.
    exports = shell_exports(settings)
    for template, path in settings["rendered"].items():
        assert bash(f"{exports}\nrendered_path {shlex.quote(template)}").stdout == path + "\n"
    assert bash(f"{exports}\nrendered_path nginx/other.conf.j2").returncode == 1

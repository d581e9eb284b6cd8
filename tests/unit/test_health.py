import os
import re

from app import create_app, source_version


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["version"] == source_version()
    assert re.fullmatch(r"[0-9a-f]{12}", body["version"])
    assert re.fullmatch(r"[0-9a-f]{32}", body["boot_id"])
    assert body["pid"] == os.getpid()
    assert body["async_mode"] == "threading"


def test_boot_id_is_per_app(app, tmp_path):
    other = create_app({"TESTING": True, "DATABASE": str(tmp_path / "other.sqlite")})
    assert other.config["BOOT_ID"] != app.config["BOOT_ID"]
    assert other.config["VERSION"] == app.config["VERSION"]
    assert other.test_client().get("/healthz").get_json()["boot_id"] == other.config["BOOT_ID"]


def test_version_follows_source(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "templates" / "t.html").write_text("<p>")
    (tmp_path / "notes.txt").write_text("ignored")
    before = source_version(tmp_path)
    (tmp_path / "notes.txt").write_text("still ignored")
    assert source_version(tmp_path) == before
    (tmp_path / "templates" / "t.html").write_text("<p>changed")
    assert source_version(tmp_path) != before


def test_database_failure_is_503(app, client, tmp_path):
    app.config["DATABASE"] = str(tmp_path)  # a directory: sqlite cannot open it
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error"
    assert body["database"] != "ok"

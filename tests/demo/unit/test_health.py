def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_database_failure_is_503(app, client, tmp_path):
    app.config["DATABASE"] = str(tmp_path)  # a directory: sqlite cannot open it
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error"
    assert body["database"] != "ok"

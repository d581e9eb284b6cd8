"""While the app is down, nginx answers with a friendly page that retries by
itself, never a raw 502."""

from tests.helpers import on_app_guests, wait_for_app


def test_app_down_gives_the_friendly_retrying_page(http, guests, settings):
    on_app_guests(guests, "sudo systemctl stop {units}")
    try:
        response = http.get("/")
        socket_io = http.get("/socket.io/?EIO=4&transport=polling")
        health = http.get("/_devbox/health")
    finally:
        on_app_guests(guests, "sudo systemctl start {units}")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert 'id="devbox-unavailable"' in response.text
    assert "/_devbox/health" in response.text  # the page polls it and comes back by itself
    assert (socket_io.status_code, health.status_code) == (503, 503)
    wait_for_app(settings)

"""While the app is down, nginx answers with a friendly page that retries by
itself, never a raw 502."""

from devbox import guest as devbox_guest
from devbox.guest import wait_for


def test_app_down_gives_the_friendly_retrying_page(http, guest, settings, base_url):
    unit = f"{settings['name']}.service"
    guest.run(f"sudo systemctl stop {unit}", hide=True)
    try:
        response = http.get("/")
        socket_io = http.get("/socket.io/?EIO=4&transport=polling")
    finally:
        guest.run(f"sudo systemctl start {unit}", hide=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert 'id="devbox-unavailable"' in response.text
    assert "/healthz" in response.text  # the page polls it and reloads
    assert socket_io.status_code == 503
    assert wait_for(lambda: (devbox_guest.health_or_none(base_url) or {}).get("status") == "ok", timeout=30)

"""pytest fixtures for testing your app on the running devbox, from the host,
through the forwarded port: as a browser reaches it, nginx and all.

Every test under ``tests/`` has them (``tests/conftest.py`` loads this
plugin); tests elsewhere load it with ``pytest -p devbox.host.pytest_plugin``.
The names follow pytest-base-url and pytest-playwright (``base_url``,
``browser``, ``browser_context_args``, ``context``, ``page``), so tests written
for those run here unchanged, on Debian's Chromium (no browser is downloaded).

The first test that reaches the devbox checks that it answers (a failure,
never a skip) and points the app's ``DATA_DIR`` at a fresh scratch folder for
the rest of the run: the data you work with stays as it was.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from devbox import settings as devbox_settings_module
from devbox.host import guest as devbox_guest
from devbox.host import reload as devbox_reload
from devbox.host.scratch import scratch_data
from devbox.host.tls import client_ca
from devbox.host.watch import NGINX, PROVISION, RELOAD, classify, takes_reload
from devbox.settings import ROOT

# Set while a run has the app on scratch data, for the runs it starts.
SCRATCH_RUN = "DEVBOX_SCRATCH_RUN"
# devbox's own suites under tests/; every other test there is the team's.
DEVBOX_SUITES = ("tests/unit", "tests/stack", "tests/host", "tests/nodes", "tests/apps", "tests/deploy")


def team_tests(root: Path = ROOT) -> list[str]:
    """The team's tests (and the demo's, while it is there): whatever is under tests/ but devbox's suites."""
    return sorted(str(path.relative_to(root)) for path in (root / "tests").iterdir()
                  if str(path.relative_to(root)) not in DEVBOX_SUITES
                  and (path.is_dir() and path.name != "__pycache__"
                       or path.suffix == ".py" and (path.name.startswith("test_") or path.stem.endswith("_test"))))


def pytest_configure(config):
    config.addinivalue_line("markers", "instances: a test of the app across several app instances; "
                            "./setup.sh test runs it again with 3 instances and with 2 app guests")
    config.addinivalue_line("markers", "deploy: a test of the app deployed with fab deploy to the deploy tests' "
                            "server (tests/deploy/); run only where -m names deploy, as ./setup.sh test's deploy "
                            "stage does")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``deploy`` need the deploy tests' server: left out unless -m names them."""
    if "deploy" in (config.option.markexpr or ""):
        return
    kept = [item for item in items if item.get_closest_marker("deploy") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture(scope="session")
def devbox_settings():
    """The checked contents of devbox.yaml (with the DEVBOX_* variables): what the guest was built from."""
    try:
        return devbox_settings_module.load()
    except devbox_settings_module.SettingsError as exc:
        pytest.exit(f"devbox.yaml: {exc}", returncode=2)


def _quiet(conn):
    conn.config.run.in_stream = False  # pytest captures stdin; nothing here is interactive
    return conn


@pytest.fixture(scope="session")
def devbox_guests(devbox_settings):
    """The running devbox's guests, for the whole run, with the app's data on a
    scratch folder: Fabric connections to the front (nginx, Redis) and to
    whichever guest runs each app instance (``devbox.host.guest.Guests``)."""
    url = devbox_settings_module.base_url(devbox_settings)
    try:
        devbox_guest.health(url, timeout=5)
    except OSError as exc:
        pytest.exit(f"devbox does not answer at {url} ({exc}); run fab up (or ./setup.sh)", returncode=3)
    guests = devbox_guest.Guests(devbox_settings, configure=_quiet)
    if os.environ.get(SCRATCH_RUN):  # a run inside a run (a test of fab test): the outer one's scratch data
        yield guests
    else:
        os.environ[SCRATCH_RUN] = "1"
        try:
            with scratch_data(devbox_settings, guests):
                yield guests
        finally:
            del os.environ[SCRATCH_RUN]
    guests.close()


@pytest.fixture(scope="session")
def base_url(request, devbox_guests, devbox_settings):
    """``http://localhost:<host_port>``: where the browser reaches the devbox.
    Parametrized indirectly with ``"https"``, ``https://localhost:<https_host_port>``."""
    return devbox_settings_module.base_url(devbox_settings, getattr(request, "param", "http"))


@pytest.fixture(scope="session")
def https_url(devbox_guests, devbox_settings):
    """``https://localhost:<https_host_port>``: the devbox over HTTPS (``tls: true``)."""
    if not devbox_settings["tls"]:
        pytest.fail("tls: false in devbox.yaml: the devbox serves no HTTPS; set tls: true and run fab provision")
    return devbox_settings_module.base_url(devbox_settings, "https")


@pytest.fixture
def http(base_url):
    """A requests session whose relative URLs (``http.get("/")``) go to the devbox
    through the forwarded port. Redirects are returned, not followed: a test
    sees where each one points."""

    class Session(requests.Session):
        def request(self, method, url, *args, **kwargs):
            kwargs.setdefault("timeout", 10)
            kwargs["allow_redirects"] = False  # requests.get() sets True itself
            return super().request(method, base_url + url, *args, **kwargs)

    with Session() as session:
        session.trust_env = False  # an http_proxy must not stand between the host and its own port
        session.verify = client_ca(base_url)
        yield session


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, under Playwright, for the whole run."""
    from playwright.sync_api import sync_playwright

    from devbox.host import browser as devbox_browser

    with sync_playwright() as playwright:
        browser = devbox_browser.launch(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def browser_context_args(base_url):
    """Options for each test's browser context (Playwright's ``new_context``); the
    base URL makes ``page.goto("/")`` the devbox. Override it in a conftest.py to
    add a viewport, a locale, ... (``return {**browser_context_args, ...}``)."""
    return {"base_url": base_url}


def collect_errors(page):
    """``page`` with ``page.errors``: the uncaught script errors it has seen."""
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


@pytest.fixture
def new_context(browser, browser_context_args):
    """Factory: a fresh browser context (its own cookies and storage: another user)
    on each call, ``browser_context_args`` updated by its keyword arguments; every
    page it opens collects its uncaught script errors in ``page.errors``. Closed
    after the test."""
    contexts = []

    def new(**kwargs):
        context = browser.new_context(**{**browser_context_args, **kwargs})
        context.on("page", collect_errors)  # before new_page() returns
        contexts.append(context)
        return context

    yield new
    for context in contexts:
        context.close()


@pytest.fixture
def context(new_context):
    """This test's browser context (its own cookies and storage)."""
    return new_context()


@pytest.fixture
def page(context):
    """A new page in this test's context (blank: ``page.goto("/")`` opens the
    app); ``page.errors`` collects its uncaught script errors."""
    return context.new_page()


@pytest.fixture
def socketio_client(base_url):
    """Factory: a python-socketio ``Client`` connected through the forwarded port
    (over WebSocket unless ``transports`` says otherwise), disconnected after the
    test. ``socketio_client(namespaces=["/chat"], auth=..., http_session=...)``:
    keyword arguments go to ``Client()`` or ``connect()``, whichever takes them."""
    import inspect

    import socketio

    clients = []
    connect_options = set(inspect.signature(socketio.Client.connect).parameters)

    def connect(transports=("websocket",), **kwargs):
        options = {"url": base_url, "transports": list(transports), "wait_timeout": 10,
                   **{k: kwargs.pop(k) for k in list(kwargs) if k in connect_options}}
        # An Origin set through headers= is sent twice (websocket-client adds its
        # own) and always refused, so it goes as a websocket option. Over
        # HTTPS the session's CA goes to the WebSocket too.
        session = requests.Session()
        session.trust_env, session.verify = False, client_ca(base_url)
        client = socketio.Client(**{"reconnection": False, "websocket_extra_options": {"origin": base_url},
                                    "http_session": session, **kwargs})
        clients.append(client)
        client.connect(**options)
        return client

    yield connect
    for client in clients:
        client.disconnect()


@pytest.fixture
def edit(devbox_settings, devbox_guests):
    """Factory: change or add a file of the repository for this test only, and
    wait until the change is live.

    ``edit("app/templates/index.html", new_text)`` (a path in the repository, or
    an absolute one) writes it on the host, brings
    it into a guest that holds a copy of the folder (libvirt), and when it is the
    app's code (Python, templates: anything in the app folder but its static
    folder) reloads the app and returns once every instance answers with it, as
    `fab reload` does (a change that breaks loading is live too: the app then
    answers with the error). Static files are live once written. ``live=False``
    only writes. At the end of the test every file is put back (or removed when
    it was new) and the app is reloaded onto the original code.
    """
    settings, guests = devbox_settings, devbox_guests
    originals = {}

    def make_live(paths):
        relative = [str(path.relative_to(ROOT)) for path in paths]
        actions = {classify(path, settings) for path in relative}
        if RELOAD in actions:  # unless only templates the app re-reads by itself changed
            health = devbox_guest.health_or_none(devbox_settings_module.base_url(settings))
            if not takes_reload(relative, settings, devbox_reload.live_templates(settings, health)):
                actions.discard(RELOAD)
        try:
            if RELOAD in actions:
                devbox_reload.reload_app(settings, guests, nginx=NGINX in actions)
            elif NGINX in actions:
                devbox_reload.render_nginx(settings, guests.front)
        except devbox_reload.LoadFailed:
            pass  # the app answers with its load error: that is the change, live
        except devbox_reload.ReloadError as exc:
            pytest.fail(f"devbox: {exc}\n{exc.log}".rstrip())

    def change(relative, text, live=True):
        path = ROOT / relative  # relative to the repository, or absolute
        if classify(str(path.relative_to(ROOT)), settings) == PROVISION:
            pytest.fail(f"edit: {relative} takes fab provision to apply, which a test cannot undo cheaply")
        originals.setdefault(path, path.read_text() if path.exists() else None)
        path.write_text(text)
        if not change.watched:
            guests.copy_files([str(path.relative_to(ROOT))])
            if live:
                make_live([path])
        return path

    change.watched = False  # True: `fab watch` runs, and bringing edits live is its job (under test)
    yield change
    for path, text in originals.items():
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text)
    guests.copy_files([str(path.relative_to(ROOT)) for path in originals])
    make_live(originals)

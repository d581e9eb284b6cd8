"""Fixtures shared by the unit tests and the tests through the forwarded port."""

import pytest

from devbox import settings as devbox_settings


@pytest.fixture(scope="session")
def settings():
    """The checked contents of devbox.yaml: the same values the guest was built from."""
    return devbox_settings.load()

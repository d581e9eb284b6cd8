"""Tests of the multi-guest mode (nodes: 2 or more). Not part of a plain
`pytest` run: ./setup.sh test runs them, with DEVBOX_NODES=2, against a
front guest and two app guests that `vagrant up` started."""

import pytest


@pytest.fixture(scope="module")
def nodes(settings, devbox):
    """The settings of the running multi-guest devbox; a failure (never a skip)
    when the settings name fewer than two app guests."""
    if settings["nodes"] < 2:
        pytest.fail("these tests need two app guests or more: run them with DEVBOX_NODES=2 after "
                    "DEVBOX_NODES=2 vagrant up (./setup.sh test does)")
    return settings

"""The guest's wheels are fetched for the guest's architecture: the host's,
since guests run natively (lxc, or a VM on a laptop: arm64 on Apple Silicon)."""

import pytest

from devbox.host import wheels


@pytest.mark.parametrize("machine, arch", [("x86_64", "x86_64"), ("AMD64", "x86_64"), ("aarch64", "aarch64"),
                                           ("arm64", "aarch64")])
def test_wheels_are_for_the_guests_architecture_and_debian_12s_glibc(machine, arch):
    tags = wheels.platforms(machine)
    assert tags[0] == f"manylinux2014_{arch}"
    assert all(tag.endswith(f"_{arch}") for tag in tags)
    assert tags[-1] == f"manylinux_2_36_{arch}"  # bookworm's glibc, and nothing newer


def test_an_architecture_without_a_guest_is_one_line():
    with pytest.raises(wheels.WheelsError, match=r"^no Debian 12 guest for a riscv64 host; devbox runs on x86_64 and "
                                                 r"arm64 \(aarch64\)$"):
        wheels.platforms("riscv64")

"""The guest's certificate, made on the host by the real mkcert with a CA of
the test's own (CAROOT in tmp_path; no store is touched): made once, kept
while it will do, made again when it names other hosts, nears its end, or
was signed by another CA; and one line when there is no CA."""

import datetime
import os
import subprocess

import pytest

from devbox.host import tls


@pytest.fixture
def ca(tmp_path, monkeypatch):
    """A CA of this test's own, as mkcert -install would make it (without trusting it anywhere)."""
    monkeypatch.setenv("CAROOT", str(tmp_path / "ca"))
    subprocess.run(["mkcert", "-CAROOT"], check=True, capture_output=True)
    # Any mkcert command with no CA makes one; -cert-file into a throw-away place does.
    subprocess.run(["mkcert", "-cert-file", tmp_path / "x.pem", "-key-file", tmp_path / "x-key.pem", "x.test"],
                   check=True, capture_output=True)
    return tmp_path / "ca"


@pytest.fixture
def made(tmp_path, ca, settings):
    return tls.leaf(settings, tmp_path / "leaf" / "site.pem")


def test_the_leaf_names_every_host_the_devbox_accepts_and_is_the_owners_alone(made, settings):
    cert_pem = made.read_bytes()
    assert b"PRIVATE KEY" in cert_pem and b"CERTIFICATE" in cert_pem
    assert os.stat(made).st_mode & 0o777 == 0o600
    assert os.stat(made.parent).st_mode & 0o777 == 0o700
    assert tls.problem(cert_pem, tls.ca_certificate(), tls.names(settings)) is None
    assert tls.names(settings) == ["localhost", "127.0.0.1", "::1"]


def test_a_leaf_that_will_do_is_kept(made, settings):
    before = made.read_bytes()
    assert tls.leaf(settings, made) == made
    assert made.read_bytes() == before


def test_other_names_make_a_new_leaf(made, settings):
    settings = {**settings, "allowed_hosts": [*settings["allowed_hosts"], "devbox.lan"]}
    assert "names" in tls.problem(made.read_bytes(), tls.ca_certificate(), tls.names(settings))
    tls.leaf(settings, made)
    assert tls.problem(made.read_bytes(), tls.ca_certificate(), tls.names(settings)) is None


def test_a_leaf_near_its_end_is_renewed(made, settings):
    ends = tls.x509.load_pem_x509_certificate(made.read_bytes()).not_valid_after_utc
    # mkcert's leaves last over two years, and under Apple's 825 days.
    lasts = ends - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=700) < lasts <= datetime.timedelta(days=825)
    soon = ends - datetime.timedelta(days=10)
    assert tls.problem(made.read_bytes(), tls.ca_certificate(), tls.names(settings), now=soon).startswith("it ends")
    assert "soon: fab provision renews it" in tls.describe(tls.x509.load_pem_x509_certificate(made.read_bytes()),
                                                           now=soon)


def test_a_leaf_from_another_ca_is_made_again(made, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("CAROOT", str(tmp_path / "other-ca"))
    subprocess.run(["mkcert", "-cert-file", tmp_path / "y.pem", "-key-file", tmp_path / "y-key.pem", "y.test"],
                   check=True, capture_output=True)
    assert tls.problem(made.read_bytes(), tls.ca_certificate(), tls.names(settings)) == "another CA signed it"
    tls.leaf(settings, made)
    assert tls.problem(made.read_bytes(), tls.ca_certificate(), tls.names(settings)) is None


def test_a_leaf_with_an_rsa_key_is_made_again_with_ecdsa(made, settings, tmp_path):
    subprocess.run(["mkcert", "-cert-file", tmp_path / "rsa.pem", "-key-file", tmp_path / "rsa-key.pem",
                    *tls.names(settings)], check=True, capture_output=True)
    made.write_bytes((tmp_path / "rsa.pem").read_bytes() + (tmp_path / "rsa-key.pem").read_bytes())
    assert tls.problem(made.read_bytes(), tls.ca_certificate(), tls.names(settings)) == "its key is not ECDSA"
    tls.leaf(settings, made)
    assert tls.problem(made.read_bytes(), tls.ca_certificate(), tls.names(settings)) is None


def test_garbage_in_place_of_the_leaf_is_made_again(made, settings):
    made.write_text("not a certificate\n")
    assert tls.problem(made.read_bytes(), tls.ca_certificate(), tls.names(settings)) == "it is not a certificate and key"
    tls.leaf(settings, made)
    assert tls.problem(made.read_bytes(), tls.ca_certificate(), tls.names(settings)) is None


def test_no_ca_is_one_line_with_the_fix(tmp_path, monkeypatch, settings):
    monkeypatch.setenv("CAROOT", str(tmp_path / "none"))
    with pytest.raises(tls.TLSError) as error:
        tls.leaf(settings, tmp_path / "leaf.pem")
    assert "\n" not in str(error.value) and "no local CA" in str(error.value) and "./setup.sh" in str(error.value)
    assert not (tmp_path / "none" / "rootCA.pem").exists()  # never made unasked


def test_no_mkcert_is_one_line_with_the_fix(tmp_path, monkeypatch, settings):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(tls.TLSError) as error:
        tls.leaf(settings, tmp_path / "leaf.pem")
    assert "needs mkcert" in str(error.value) and "tls: false" in str(error.value)

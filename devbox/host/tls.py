"""HTTPS for the devbox: the host's local certificate authority and the guest's certificate.

The CA is mkcert's, made once per host user (``mkcert -install``, which
./setup.sh runs) and trusted by the host's system store and its browsers' NSS
stores. Its key never leaves the host. The guest gets only a leaf certificate
and its key, made here for the names a browser may use (localhost, 127.0.0.1,
[::1] and ``allowed_hosts``) and kept in ``.vagrant/devbox-tls/`` (the host
user's alone) until it is within RENEW_BEFORE of its end, names other hosts,
or was signed by a CA this host no longer has. Vagrant (a trigger before up and
provision) and ``fab provision`` hand it to the guest.

    python -m devbox.host.tls leaf      # the leaf's path, made or renewed if needed
    python -m devbox.host.tls status    # what port https_host_port serves, in one line
"""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devbox import settings as devbox_settings
from devbox.settings import TLS_LEAF, SettingsError
# Renewed by the first provisioning within a month of its end (mkcert's last
# 2 years 3 months, under the 825 days Apple allows a locally trusted root's).
RENEW_BEFORE = datetime.timedelta(days=30)
INSTALL = ("install mkcert and trust its CA: ./setup.sh does both on Debian; elsewhere apt install mkcert "
           "libnss3-tools, brew install mkcert nss, or choco install mkcert, then mkcert -install; "
           "or set tls: false in devbox.yaml")


class TLSError(Exception):
    """What is wrong with the CA or the certificate, and the fix, in one line."""


def names(settings: dict) -> list[str]:
    """The names the certificate covers: every Host the devbox accepts, IPv6 without brackets."""
    return [host.strip("[]") for host in settings["allowed_hosts"]]


def ca_root() -> Path:
    """mkcert's CA folder for this user (``$CAROOT`` or its default)."""
    if not shutil.which("mkcert"):
        raise TLSError(f"devbox: tls: true needs mkcert on the host; {INSTALL}")
    out = subprocess.run(["mkcert", "-CAROOT"], capture_output=True, text=True, check=True).stdout
    return Path(out.strip())


def ca_certificate() -> x509.Certificate:
    """The host's local CA, as ./setup.sh (mkcert -install) made it; never made here unasked."""
    path = ca_root() / "rootCA.pem"
    if not path.is_file():
        raise TLSError(f"devbox: no local CA on this host ({path}); {INSTALL}")
    return x509.load_pem_x509_certificate(path.read_bytes())


def problem(pem: bytes, ca: x509.Certificate, wanted: list[str], now: datetime.datetime | None = None) -> str | None:
    """Why this leaf (certificate and key, PEM) will not do, or None when it will."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError:
        return "it is not a certificate and key"
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return "its key is not ECDSA"
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "another CA signed it"
    if ends_soon(cert, now):
        return f"it ends on {cert.not_valid_after_utc:%Y-%m-%d}"
    if sorted(covered(cert)) != sorted(wanted):
        return f"it names {', '.join(covered(cert))}, not {', '.join(wanted)}"
    return None


def ends_soon(cert: x509.Certificate, now: datetime.datetime | None = None) -> bool:
    """Whether the certificate is within RENEW_BEFORE of its end (or past it)."""
    return cert.not_valid_after_utc - (now or datetime.datetime.now(datetime.timezone.utc)) < RENEW_BEFORE


def covered(cert: x509.Certificate) -> list[str]:
    """The names and addresses a certificate is for."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*san.get_values_for_type(x509.DNSName), *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))]


def leaf(settings: dict, path: Path = TLS_LEAF) -> Path:
    """The guest's certificate and key (one PEM file), made again when it will not do."""
    ca = ca_certificate()
    wanted = names(settings)
    if path.is_file() and problem(path.read_bytes(), ca, wanted) is None:
        return path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        cert, key = Path(scratch, "cert.pem"), Path(scratch, "key.pem")
        # ECDSA (P-256): a new connection's handshake signs with it, several
        # times cheaper than with RSA (docs/performance.md, HTTPS).
        made = subprocess.run(["mkcert", "-ecdsa", "-cert-file", cert, "-key-file", key, *wanted],
                              capture_output=True, text=True)
        if made.returncode:
            last = (made.stderr.strip().splitlines() or ["no message"])[-1]
            raise TLSError(f"devbox: mkcert could not make the devbox's certificate ({last}); {INSTALL}")
        draft = Path(scratch, "site.pem")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(cert.read_bytes() + key.read_bytes())
        os.replace(draft, path)  # whole or not at all
    return path


def served(settings: dict, timeout: float = 3.0) -> x509.Certificate:
    """The certificate https_host_port serves, checked as a browser would: by the host's
    system store, for localhost. TLSError when it cannot be had or is not trusted."""
    port = settings["https_host_port"]
    where = f"https://localhost:{port}"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            with ssl.create_default_context().wrap_socket(raw, server_hostname="localhost") as conn:
                return x509.load_der_x509_certificate(conn.getpeercert(binary_form=True))
    except ssl.SSLCertVerificationError as exc:
        raise TLSError(f"devbox: {where} is not trusted by this host ({exc.verify_message}); run ./setup.sh "
                       "(mkcert -install), then fab provision") from None
    except OSError as exc:
        raise TLSError(f"devbox: {where} does not answer ({exc.__class__.__name__}); fab up starts the "
                       "guest") from None


def client_ca(url: str):
    """What a client (requests, websocket-client) checks the devbox's certificate
    against: the host's CA (its root certificate's path) for an https URL."""
    return str(ca_root() / "rootCA.pem") if url.startswith("https") else True


def websocket_sslopt(url: str) -> dict | None:
    """websocket-client's ``sslopt`` for a connection to ``url``: the host's CA over HTTPS."""
    return {"ca_certs": client_ca(url)} if url.startswith("https") else None


def describe(cert: x509.Certificate, now: datetime.datetime | None = None) -> str:
    """Names and expiry, for fab status; and the fix when the end is near."""
    text = f"for {', '.join(covered(cert))}, until {cert.not_valid_after_utc:%Y-%m-%d}"
    if ends_soon(cert, now):
        text += " (soon: fab provision renews it)"
    return text


def main(argv: list[str]) -> int:
    try:
        settings = devbox_settings.load()
        if argv == ["leaf"]:
            print(leaf(settings))
        elif argv == ["status"]:
            print(describe(served(settings)))
        else:
            print("usage: python -m devbox.host.tls leaf|status", file=sys.stderr)
            return 2
    except (TLSError, SettingsError) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

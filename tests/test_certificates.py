"""The self-signed certificate of ``--tls-self-signed``: where it is kept, when it is reused and
when made anew, and that clients verify it (as its own CA) for every name it claims.

Every test points the cache at a temporary directory (``XDG_CACHE_HOME`` or an argument), never
at the real home.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import stat
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from simplewsgi import certificates, make_server
from simplewsgi.options import ServeOptions
from tests.helpers import DEADLINE, hello_app

NAMES = ["localhost", "127.0.0.1", "::1"]


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "simplewsgi"


def test_the_cache_directory_follows_the_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert certificates.cache_dir() == tmp_path / "xdg" / "simplewsgi"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sys, "platform", "linux")
    assert certificates.cache_dir() == tmp_path / "home" / ".cache" / "simplewsgi"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert certificates.cache_dir() == tmp_path / "home" / "Library" / "Caches" / "simplewsgi"


def test_made_once_private_and_reused(cache: Path) -> None:
    path, made = certificates.self_signed(cache)
    assert made
    assert path == cache / certificates.SELF_SIGNED
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    crt = cache / certificates.SELF_SIGNED_CRT
    assert b"PRIVATE KEY" not in crt.read_bytes()
    first = certificates.fingerprint(str(path))
    assert first == certificates.fingerprint(str(crt))
    again, made = certificates.self_signed(cache)
    assert (again, made) == (path, False)
    assert certificates.fingerprint(str(again)) == first


def test_the_certificate_is_for_the_loopback_names_and_nothing_else(cache: Path) -> None:
    path, _ = certificates.self_signed(cache)
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    found = [*names.get_values_for_type(x509.DNSName), *names.get_values_for_type(x509.IPAddress)]
    assert sorted(map(str, found)) == sorted(NAMES)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    lifetime = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=certificates.VALID_DAYS - 1) < lifetime
    assert lifetime < datetime.timedelta(days=certificates.VALID_DAYS + 1)
    expected = cert.fingerprint(hashes.SHA256()).hex().upper()
    assert certificates.fingerprint(str(path)).replace(":", "") == expected


def _self_signed_pem(days: int, names: list[str]) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    alt: list[x509.GeneralName] = [x509.DNSName(names[0])]
    alt += [x509.IPAddress(ipaddress.ip_address(n)) for n in names[1:]]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    "spoil",
    ["corrupt", "empty", "expiring", "other names", "readable by others", "another key"],
)
def test_made_anew_when_not_fit_to_reuse(cache: Path, spoil: str) -> None:
    path, _ = certificates.self_signed(cache)
    data = path.read_bytes()
    if spoil == "corrupt":
        path.write_bytes(data[: len(data) // 2])
    elif spoil == "empty":
        path.write_bytes(b"")
    elif spoil == "expiring":
        path.write_bytes(_self_signed_pem(certificates.RENEW_DAYS - 1, NAMES))
    elif spoil == "other names":
        path.write_bytes(_self_signed_pem(300, ["example.com", "127.0.0.1"]))
    elif spoil == "readable by others":
        path.chmod(0o644)
    else:  # the key of one certificate with another's certificate
        other = _self_signed_pem(300, NAMES)
        path.write_bytes(other[: other.index(b"-----BEGIN CERTIFICATE-----")] + data[
            data.index(b"-----BEGIN CERTIFICATE-----") :
        ])  # fmt: skip
    before = path.read_bytes()
    again, made = certificates.self_signed(cache)
    assert made
    assert again.read_bytes() != before
    assert stat.S_IMODE(again.stat().st_mode) == 0o600
    certificates.server_context(ServeOptions(certfile=str(again)))  # loads: key matches


def test_a_valid_certificate_made_elsewhere_is_reused(cache: Path) -> None:
    cache.mkdir(parents=True, mode=0o700)
    path = cache / certificates.SELF_SIGNED
    path.write_bytes(_self_signed_pem(300, NAMES))
    path.chmod(0o600)
    before = path.read_bytes()
    assert certificates.self_signed(cache) == (path, False)
    assert path.read_bytes() == before


def test_an_unwritable_cache_is_one_clear_error(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with pytest.raises(certificates.CertificateError, match="cannot keep the self-signed"):
        certificates.self_signed(blocked / "simplewsgi")


@pytest.mark.parametrize("host", NAMES)
def test_clients_verify_it_as_its_own_ca(cache: Path, host: str) -> None:
    options, news = certificates.prepare(ServeOptions(tls_self_signed=True))
    assert news is not None and "made a self-signed certificate" in news
    assert options.certfile == str(cache / certificates.SELF_SIGNED)
    bind = "::1" if host == "::1" else "127.0.0.1"
    try:
        server = make_server(bind, 0, hello_app)
    except OSError as error:
        pytest.skip(f"cannot listen on {bind}: {error}")
    server.ssl_context = certificates.server_context(options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        import ssl

        trust = ssl.create_default_context(cafile=str(cache / certificates.SELF_SIGNED_CRT))
        conn = http.client.HTTPSConnection(
            host, server.server_address[1], timeout=DEADLINE, context=trust
        )
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"Hello, world!"
        conn.close()
        again, news = certificates.prepare(ServeOptions(tls_self_signed=True))
        assert (again, news) == (options, None)  # reused: nothing to say
    finally:
        server.shutdown()
        server.server_close()
        thread.join(DEADLINE)


def test_other_processes_never_see_half_a_file(cache: Path) -> None:
    """Two makers at once (threads here, processes in life): each sees a whole, matching
    key and certificate."""
    results: list[object] = []

    def make() -> None:
        try:
            path, _ = certificates.self_signed(cache)
            certificates.server_context(ServeOptions(certfile=str(path)))
            results.append(certificates.fingerprint(str(path)))
        except Exception as error:  # collected, asserted below
            results.append(error)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert len(results) == 4 and len(set(results)) == 1, results
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == sorted(
        [certificates.SELF_SIGNED, certificates.SELF_SIGNED_CRT]
    )


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero")
@pytest.mark.parametrize("planted", ["a FIFO as the key", "a FIFO as the .crt", "/dev/zero"])
def test_a_cached_file_that_is_not_a_regular_file_is_made_anew(cache: Path, planted: str) -> None:
    """A FIFO would block the start for ever and /dev/zero fill the memory: neither is read."""
    import os

    cache.mkdir(parents=True, mode=0o700)
    if planted == "a FIFO as the key":
        os.mkfifo(cache / certificates.SELF_SIGNED, 0o600)
    elif planted == "a FIFO as the .crt":
        os.mkfifo(cache / certificates.SELF_SIGNED_CRT, 0o600)
    else:
        (cache / certificates.SELF_SIGNED_CRT).symlink_to("/dev/zero")
    outcome: list[object] = []
    worker = threading.Thread(
        target=lambda: outcome.append(certificates.self_signed(cache)), daemon=True
    )
    worker.start()
    worker.join(DEADLINE)
    assert outcome, f"self_signed() still running after {DEADLINE} s with {planted}"
    path, _ = outcome[0]  # type: ignore[misc]
    for name in (certificates.SELF_SIGNED, certificates.SELF_SIGNED_CRT):
        assert stat.S_ISREG((cache / name).lstat().st_mode), name
    certificates.server_context(ServeOptions(certfile=str(path)))


def test_a_relative_cache_home_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The XDG spec: a relative $XDG_CACHE_HOME is invalid; the default is used."""
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sys, "platform", "linux")
    assert certificates.cache_dir() == tmp_path / "home" / ".cache" / "simplewsgi"


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_a_symlinked_cache_open_to_others_is_refused_not_changed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    link = tmp_path / "xdg" / "simplewsgi"
    link.parent.mkdir()
    link.symlink_to(shared)
    with pytest.raises(certificates.CertificateError, match="other users can open"):
        certificates.self_signed(link)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert list(shared.iterdir()) == []

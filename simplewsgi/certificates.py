"""The command's TLS certificate: the user's files (``--certfile``), or a self-signed one made
and cached (``--tls-self-signed``).

Rules of this module, and why:
- ``cryptography`` is imported only to make or check a self-signed certificate; it is the
  optional extra ``simplewsgi[tls]`` (about 40 ms to import), and without it
  :class:`MissingExtra` names the extra. Plain serving never imports this module.
- The self-signed certificate is kept in the user's cache directory and reused while it is
  valid for more than ``RENEW_DAYS`` days, so a browser's exception for it survives restarts.
  It is made anew when about to expire, unreadable, corrupt, not for the names below, or
  readable by others than its owner (its key may have leaked).
- One file holds the key and the certificate (mode 0600, in a 0700 directory) and is replaced
  atomically: two servers starting at once never pair one's key with the other's certificate.
  A copy of the certificate alone (``.crt``) is for clients to trust (``curl --cacert``).
- It is for development on this machine: ``CA:FALSE``, so trusting it cannot make any other
  certificate trusted; valid ``VALID_DAYS`` days (Apple's clients refuse more than 825).
- :func:`prepare` runs once, in the command's process (the reloader's supervisor too), before
  serving: a bad file is one error before anything listens. Workers only load the files.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    import ssl

    from simplewsgi.options import ServeOptions

NAMES = ("localhost", "127.0.0.1", "::1")
VALID_DAYS = 365
RENEW_DAYS = 30  # made anew when it expires within this many days
CACHE_ENV = "XDG_CACHE_HOME"
SELF_SIGNED = "self-signed.pem"  # key and certificate
SELF_SIGNED_CRT = "self-signed.crt"  # the certificate alone, for clients to trust
EXTRA = "tls"  # pip install 'simplewsgi[tls]'


class MissingExtra(RuntimeError):
    """An option needs an optional dependency that is not installed."""


class CertificateError(ValueError):
    """The self-signed certificate cannot be made or stored; the message says where."""


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/simplewsgi``, else the platform's cache directory: ``~/.cache``,
    ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows."""
    base = os.environ.get(CACHE_ENV)
    if not base or not os.path.isabs(base):  # the XDG spec: a relative one is ignored
        if sys.platform == "darwin":
            base = os.path.join(os.path.expanduser("~"), "Library", "Caches")
        elif sys.platform == "win32":
            base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~")
        else:
            base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "simplewsgi"


def prepare(options: ServeOptions) -> tuple[ServeOptions, Optional[str]]:
    """``options`` with the certificate to serve: absolute paths, and ``--tls-self-signed``
    resolved to the cached file (made when due). The files are loaded once here, so a wrong
    one raises ``http.tls.TLSConfigError`` before serving. Also a line to tell the user, when
    a new certificate was made."""
    news = None
    if options.tls_self_signed:
        path, made = self_signed(cache_dir())
        options = options._replace(certfile=str(path), keyfile=None)
        if made:
            news = (
                f"made a self-signed certificate for {', '.join(NAMES)}, valid {VALID_DAYS} days; "
                "browsers ask once to accept it"
            )
    elif options.certfile:
        options = options._replace(
            certfile=os.path.abspath(options.certfile),
            keyfile=os.path.abspath(options.keyfile) if options.keyfile else None,
        )
    server_context(options)
    return options, news


def server_context(options: ServeOptions) -> Optional[ssl.SSLContext]:
    """The context to serve ``options`` with, or None for plain HTTP."""
    if not options.certfile:
        return None
    from simplewsgi.http.tls import server_context as load

    return load(options.certfile, options.keyfile, options.keyfile_password)


def fingerprint(path: str) -> str:
    """SHA-256 of the first certificate in the PEM file ``path``, as browsers show it."""
    import base64

    text = Path(path).read_text("ascii", errors="replace")
    start = text.index("-----BEGIN CERTIFICATE-----") + len("-----BEGIN CERTIFICATE-----")
    der = base64.b64decode(text[start : text.index("-----END CERTIFICATE-----", start)])
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def self_signed(directory: Path) -> tuple[Path, bool]:
    """The cached self-signed certificate's file in ``directory``, and whether it was just made."""
    path = directory / SELF_SIGNED
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if directory.stat().st_mode & 0o077:
            if directory.is_symlink():  # not ours to change what it points to
                raise CertificateError(
                    f"{directory} leads to a directory other users can open, and the key must "
                    f"not be readable by them: make it 0700, or set ${CACHE_ENV}"
                )
            directory.chmod(0o700)
        with _locked(directory):
            crypto = _cryptography()
            if _usable(path, crypto):
                made = False
            else:
                _write(path, _make(crypto), 0o600)
                made = True
            crt = _certificate_pem(_read_cached(path) or b"")
            crt_path = directory / SELF_SIGNED_CRT
            if _read_cached(crt_path) != crt:
                _write(crt_path, crt, 0o644)
    except OSError as error:
        where = error.filename or directory
        raise CertificateError(
            f"cannot keep the self-signed certificate in {where}: {error.strerror}; "
            f"set ${CACHE_ENV} to a directory of yours"
        ) from None
    return path, made


def _cryptography() -> Any:
    try:
        from cryptography import x509
    except ImportError:
        raise MissingExtra(
            f"--tls-self-signed needs the cryptography package: pip install 'simplewsgi[{EXTRA}]'"
        ) from None
    return x509


def _read_cached(path: Path) -> Optional[bytes]:
    """A cached file's bytes; None when it is missing, not a regular file (a FIFO would block,
    a link to /dev/zero never end), a symlink, or too large: it is then made anew."""
    from simplewsgi.http.tls import MAX_PEM_BYTES

    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = file.read(MAX_PEM_BYTES + 1)
    return data if len(data) <= MAX_PEM_BYTES else None


def _usable(path: Path, x509: Any) -> bool:
    """Reuse the certificate in ``path``: ours to read only, for our names, its key matching,
    valid for more than RENEW_DAYS days."""
    from cryptography.hazmat.primitives import serialization

    try:
        if path.stat().st_mode & 0o077:
            return False
        data = _read_cached(path)
        if data is None:
            return False
        cert = x509.load_pem_x509_certificate(data)
        key = serialization.load_pem_private_key(data, password=None)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound):
        return False
    raw = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, raw) != cert.public_key().public_bytes(der, raw):
        return False
    if sorted(str(name) for name in _names_of(names, x509)) != sorted(NAMES):
        return False
    now = datetime.datetime.now(datetime.timezone.utc)
    renew = now + datetime.timedelta(days=RENEW_DAYS)
    return bool(cert.not_valid_before_utc <= now and cert.not_valid_after_utc > renew)


def _names_of(names: Any, x509: Any) -> list[Any]:
    return [*names.get_values_for_type(x509.DNSName), *names.get_values_for_type(x509.IPAddress)]


def _make(x509: Any) -> bytes:
    """A new key (EC P-256: made in a millisecond, taken by every browser) and a certificate
    for :data:`NAMES`, signed by itself; PEM, key first."""
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "simplewsgi development certificate"),
        x509.NameAttribute(NameOID.COMMON_NAME, NAMES[0]),
    ])  # fmt: skip
    now = datetime.datetime.now(datetime.timezone.utc)
    alt = [x509.DNSName(NAMES[0]), *(x509.IPAddress(ipaddress.ip_address(n)) for n in NAMES[1:])]
    usage = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
         "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
        False,
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))  # a clock a little behind
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, **usage), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return bytes(key_pem + cert.public_bytes(pem))


def _certificate_pem(data: bytes) -> bytes:
    start = data.index(b"-----BEGIN CERTIFICATE-----")
    end = data.index(b"-----END CERTIFICATE-----", start) + len(b"-----END CERTIFICATE-----")
    return data[start:end] + b"\n"


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write a new file beside ``path``, private from its creation, then move it over ``path``
    at once: a reader sees the old file or the new one, never half of one."""
    import tempfile

    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    temporary = Path(name)
    try:
        with open(fd, "wb") as file:
            file.write(data)
        os.chmod(temporary, mode)  # whatever the umask
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


@contextlib.contextmanager
def _locked(directory: Path) -> Any:
    """Hold the cache directory's lock while checking and making: one server makes the
    certificate, the others reuse it (POSIX; elsewhere, the atomic replace is the guard)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(directory / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

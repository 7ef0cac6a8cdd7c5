"""Build the wheel, install it into a fresh virtualenv, and check what a user gets.

- ``simplewsgi demo`` from the installed script answers a request;
- the man page is in the wheel (installed under share/man/man1), the docs generator is not;
- every module of the source tree's package is in the wheel, and the entry points of each
  floor import from the installed copy.

    python .ci/wheel_smoke.py      (exits non-zero, with the reason, on any failure)
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 30.0
PORT_RE = re.compile(rb"http://127\.0\.0\.1:(\d+)/")


def run(*argv: str | Path) -> None:
    subprocess.run([str(a) for a in argv], check=True)


def check_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    sources = sorted(
        path.relative_to(ROOT).as_posix() for path in (ROOT / "simplewsgi").rglob("*.py")
    )
    missing = [name for name in [*sources, "simplewsgi/py.typed"] if name not in names]
    if len(sources) < 20 or missing:
        sys.exit(f"wheel lacks {missing} (of {len(sources)} modules)")
    if not any(name.endswith(".data/data/share/man/man1/simplewsgi.1") for name in names):
        sys.exit("wheel lacks the man page")
    leaked = [name for name in names if name.startswith(("scripts/", "tests/", "benchmarks/"))]
    leaked += [name for name in names if "docgen" in name or "manpage" in name]
    if leaked:
        sys.exit(f"wheel holds files that are not the package: {leaked}")


def answer(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.sendall(b"GET /smoke HTTP/1.1\r\nHost: smoke\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def check_imports(env_dir: Path) -> None:
    """Each floor's entry point imports from the installed wheel, not from this checkout."""
    code = (
        "import simplewsgi.cli, simplewsgi.reload.supervisor, simplewsgi.reload.worker, "
        "simplewsgi.run, sys; from simplewsgi import make_server; "
        "print(simplewsgi.cli.__file__)"
    )
    out = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", code],
        cwd=env_dir,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if str(env_dir) not in out:
        sys.exit(f"imported from {out.strip()}, not from the installed wheel")


def check_demo(env_dir: Path) -> None:
    script = env_dir / "bin" / "simplewsgi"
    man = env_dir / "share" / "man" / "man1" / "simplewsgi.1"
    if not man.is_file():
        sys.exit(f"the man page was not installed at {man}")
    proc = subprocess.Popen(
        [str(script), "demo", "--port", "0"], stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        assert proc.stderr is not None
        banner = b""
        deadline = time.monotonic() + DEADLINE
        while (match := PORT_RE.search(banner)) is None:
            line = proc.stderr.readline()
            if not line or time.monotonic() > deadline:
                sys.exit(f"no banner from the installed simplewsgi demo: {banner!r}")
            banner += line
        reply = answer(int(match.group(1)))
        if not reply.startswith(b"HTTP/1.1 200 ") or b"Hello world!" not in reply:
            sys.exit(f"unexpected answer from the installed demo: {reply[:200]!r}")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        sys.exit(f"simplewsgi demo exited with {proc.returncode} after SIGTERM")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, ROOT)
        (wheel,) = dist.glob("simplewsgi-*.whl")
        check_contents(wheel)
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        run(env_dir / "bin" / "python", "-m", "pip", "install", "-q", wheel)
        check_imports(env_dir)
        check_demo(env_dir)
    print(f"wheel smoke test passed: {wheel.name}")


if __name__ == "__main__":
    main()

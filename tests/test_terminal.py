"""The keys' parts in memory: key decoding, the pdb hand-off's timing, who may claim a
terminal, and the options. Through the real command on a pty: test_keys.py."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Callable

import pytest

from simplewsgi import pdbhook
from simplewsgi.console import Console
from simplewsgi.keys import NEEDS_RELOAD, Shortcuts, first_url
from simplewsgi.options import ServeOptions
from simplewsgi.terminal import Terminal
from tests.helpers import wait_for


def _shortcuts(
    capsys: pytest.CaptureFixture[str], reload: bool = True
) -> tuple[Shortcuts, list[str], Callable[[], str]]:
    pressed: list[str] = []
    shortcuts = Shortcuts(
        Console(color=False),
        "http://127.0.0.1:8000/",
        True,
        quit=lambda: pressed.append("q"),
        set_access_log=lambda on: pressed.append(f"log {on}"),
        restart=(lambda: pressed.append("r")) if reload else None,
    )
    return shortcuts, pressed, lambda: capsys.readouterr().err


def test_keys_act_each_in_turn_and_escape_sequences_are_dropped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shortcuts, pressed, err = _shortcuts(capsys)
    shortcuts.press(b"R\x1b[Aq\x1bOBl\x1b[15~l\x1bx")  # arrows, F5, Alt+x between the keys
    assert pressed == ["r", "q", "log False", "log True"]
    assert err() == "Info: access log off\nInfo: access log on\n"
    shortcuts.press(b"\n \x04")  # Enter, a space, Ctrl+D: nothing, and nothing said
    shortcuts.press(b"z")
    assert err() == "Info: no shortcut for 'z'; h lists them\n"
    assert pressed == ["r", "q", "log False", "log True"]


def test_without_the_reloader_r_says_so_and_is_not_announced(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shortcuts, pressed, err = _shortcuts(capsys, reload=False)
    assert shortcuts.banner_line() == "Keys: o open, c clear, l log, q quit, h help"
    shortcuts.press(b"r")
    assert pressed == [] and err() == f"Info: {NEEDS_RELOAD}\n"
    shortcuts.press(b"h")
    assert "  r  " not in err()


def test_help_lists_the_keys_with_the_url_and_the_log_state(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shortcuts, _, err = _shortcuts(capsys)
    assert shortcuts.banner_line() == "Keys: r restart, o open, c clear, l log, q quit, h help"
    shortcuts.press(b"h")
    assert err().splitlines() == [
        "Keys:",
        "  r  restart the app now",
        "  o  open http://127.0.0.1:8000/ in the browser",
        "  c  clear the screen",
        "  l  turn the access log off",
        "  q  quit (as Ctrl+C)",
        "  h  this help",
    ]


def test_the_url_opened_is_the_banners_first() -> None:
    options = ServeOptions()
    assert first_url(options, ["/tmp/s.sock", ("::1", 8000)]) == "http://[::1]:8000/"
    assert first_url(options._replace(certfile="c.pem"), [("0.0.0.0", 5)]).startswith(  # type: ignore[union-attr]
        "https://127.0.0.1:5/"
    )
    assert first_url(options, ["/tmp/s.sock"]) is None


def test_a_pdb_session_hands_the_terminal_over_once_even_while_stepping() -> None:
    """enter before the first prompt; no leave/enter between prompts that follow each other
    within LEAVE_DELAY (n, s); leave once the last prompt is over."""
    said: list[str] = []
    handoff = pdbhook.Handoff(lambda: said.append("enter"), lambda: said.append("leave"))
    for _ in range(3):  # three steps
        handoff.prompt_starts()
        handoff.prompt_ends()
    assert said == ["enter"]
    wait_for(lambda: said == ["enter", "leave"], what="leave after the last prompt")
    handoff.prompt_starts()
    assert said == ["enter", "leave", "enter"]


def test_pdb_is_hooked_when_imported_later_and_not_imported_before() -> None:
    """In a fresh interpreter: installing does not import pdb; pdb.set_trace() called after
    an import of pdb (not through breakpoint()) goes through the hook."""
    code = (
        "import sys\n"
        "from simplewsgi import pdbhook\n"
        "pdbhook.install(lambda: print('ENTER', flush=True), lambda: None)\n"
        "assert 'pdb' not in sys.modules\n"
        "import pdb\n"
        "pdb.set_trace()\n"
        "x = 1\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], input="c\n", capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ENTER\n")
    assert "(Pdb)" in result.stdout


def test_no_terminal_is_claimed_that_is_not_ours_in_the_foreground() -> None:
    """A pipe is not a terminal; a pty that is not this process's controlling terminal (as
    for a background job, somebody else's job control) is not claimed."""
    read_end, write_end = os.pipe()
    master, slave = os.openpty()
    try:
        assert Terminal.claim(read_end, write_end) is None
        assert Terminal.claim(slave, slave) is None
    finally:
        for fd in (read_end, write_end, master, slave):
            os.close(fd)


def test_keys_and_open_options(parsed: Callable[..., ServeOptions]) -> None:
    defaults = parsed("serve")
    assert (defaults.keys, defaults.open) == (True, False)
    assert parsed("serve", "--no-keys", "--open").keys is False
    assert parsed("serve", SIMPLEWSGI_KEYS="0").keys is False
    assert parsed("serve", SIMPLEWSGI_OPEN="1").open is True
    assert parsed("demo", "--open", "--no-keys")._replace(app=None).open is True


def test_the_access_log_switch_reaches_a_serving_handler_class() -> None:
    from simplewsgi.accesslog import handler_class, switch_access_log

    handler = handler_class(False, True)
    switch_access_log(handler, False)
    assert handler.access_log is False  # type: ignore[attr-defined]
    switch_access_log(object, True)  # not an access-log handler: nothing to switch
    assert not hasattr(object, "access_log")


def test_an_escape_sequence_cut_between_reads_is_still_dropped_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A held arrow fills a 64-byte read; the rest of its sequence (C, Q, H...) must not act
    as a key (F2 is ESC O Q: it used to quit)."""
    shortcuts, pressed, err = _shortcuts(capsys)
    held = b"\x1b[C" * 22 + b"\x1b[B" * 21 + b"\x1bOQ"
    for start in range(0, len(held), 64):
        shortcuts.press(held[start : start + 64])
    shortcuts.press(b"\x1b")  # F5 in two reads
    shortcuts.press(b"[15~")
    assert pressed == [] and err() == ""
    shortcuts.press("é".encode()[:1])  # a character cut in two
    shortcuts.press("é".encode()[1:])
    assert err() == "Info: no shortcut for 'é'; h lists them\n"
    shortcuts.press(b"q")
    assert pressed == ["q"]


def test_c_on_a_dumb_terminal_writes_no_codes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERM", "dumb")
    shortcuts, _, err = _shortcuts(capsys)
    shortcuts.press(b"c")
    said = err()
    assert "\x1b" not in said and "cannot be cleared" in said

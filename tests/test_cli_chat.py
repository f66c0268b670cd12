"""``amas chat``: Ctrl-C cancels a pending reply, the chat's commands, line editing and history.

Signals and end of input are tested on a real ``amas chat`` process (``python -m amas_async.cli``)
talking to a threaded emulator; a pending reply is one the emulator holds (``fail_next(delay=)``),
so nothing depends on timing. Line editing runs the chat on a pseudo-terminal.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
from click.testing import CliRunner
from helpers import wait_until_sync

from amas_async.cli import main
from amas_async.testing import Emulator

pytestmark = pytest.mark.timeout(60)

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "support_agent.yaml")
INPUTS = ["-i", "user_name=Ada", "-i", "tone=friendly"]
WAIT = 20.0  # seconds a step may take before the test fails (never reached when it works)


def _executes(emu: Emulator) -> list[str]:
    """The texts of the execute requests the emulator received, in order."""
    return [
        request.json()["content"] for request in emu.requests if request.path.endswith("/execute/")
    ]


class Output:
    """What a stream of the child wrote, collected by a thread (so reading never blocks)."""

    def __init__(self, read: Callable[[], bytes]) -> None:
        self._read = read
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while True:
            try:
                chunk = self._read()
            except OSError:  # a pseudo-terminal whose other side closed
                return
            if not chunk:
                return
            with self._lock:
                self._chunks.append(chunk)

    @property
    def text(self) -> str:
        """Everything so far, decoded."""
        with self._lock:
            return b"".join(self._chunks).decode("utf-8", "replace")

    def wait_for(self, needle: str, *, count: int = 1) -> None:
        """Wait until ``needle`` was written ``count`` times."""
        wait_until_sync(
            lambda: self.text.count(needle) >= count,
            timeout=WAIT,
            what=f"{needle!r} x{count} in {self.text!r}",
        )

    def close(self) -> None:
        """Wait for the end of the stream."""
        self._thread.join(WAIT)


def _env(emu: Emulator, **extra: str) -> dict[str, str]:
    return dict(
        os.environ,
        AMAS_BASE_URL=emu.base_url,
        AMAS_API_KEY=emu.api_key,
        PYTHONUNBUFFERED="1",
        **extra,
    )


class Chat:
    """``amas chat`` as a child process with piped standard streams."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "amas_async.cli", "chat", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self.out = Output(_reader(self.proc.stdout))
        self.err = Output(_reader(self.proc.stderr))

    def send(self, line: str) -> None:
        """Type ``line`` and Enter."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def interrupt(self) -> None:
        """Ctrl-C."""
        self.proc.send_signal(signal.SIGINT)

    def end(self, *, eof: bool = True) -> int:
        """Close its input (Ctrl-D) if ``eof``; wait for it to exit; its status."""
        if eof:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        status = self.proc.wait(WAIT)
        self.out.close()
        self.err.close()
        return status

    def kill(self) -> None:
        """End it if it still runs (when the test already failed)."""
        if self.proc.poll() is None:  # pragma: no cover - only when the test already failed
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def _reader(stream: IO[bytes]) -> Callable[[], bytes]:
    return lambda: os.read(stream.fileno(), 4096)


@contextlib.contextmanager
def chat_process(args: list[str], env: dict[str, str]) -> Iterator[Chat]:
    """A running ``amas chat``, killed at the end if the test left it running."""
    chat = Chat(args, env)
    try:
        yield chat
    finally:
        chat.kill()


def _assert_clean(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert "Task exception was never retrieved" not in stderr
    assert "Exception ignored" not in stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_cancels_a_pending_reply_and_the_chat_goes_on(
    threaded_emulator: Emulator,
) -> None:
    emu = threaded_emulator
    emu.fail_next(path="/execute/", delay=60)  # the first execute is held: a pending reply
    with chat_process([EXAMPLE, *INPUTS], _env(emu)) as chat:
        chat.out.wait_for("you> ")
        chat.send("hello")
        wait_until_sync(lambda: _executes(emu) == ["hello"], timeout=WAIT, what="the execute")
        chat.interrupt()
        chat.err.wait_for("cancelled")
        chat.send("again")
        chat.out.wait_for("| again")  # the emulator's reply quotes the message
        status = chat.end()  # Ctrl-D
    assert status == 0, chat.err.text
    _assert_clean(chat.err.text)
    assert _executes(emu) == ["hello", "again"]  # the cancelled one was sent ...
    assert emu.executed_turns == 1  # ... and never answered
    assert "| hello" not in chat.out.text


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_at_the_prompt_leaves_with_status_0(threaded_emulator: Emulator) -> None:
    emu = threaded_emulator
    emu.fail_next(path="/execute/", delay=60)
    with chat_process([EXAMPLE, *INPUTS], _env(emu)) as chat:
        chat.out.wait_for("you> ")
        chat.send("hello")
        wait_until_sync(lambda: len(_executes(emu)) == 1, timeout=WAIT, what="the execute")
        chat.interrupt()  # the first Ctrl-C cancels the reply ...
        chat.err.wait_for("cancelled")
        chat.out.wait_for("you> ", count=2)
        chat.interrupt()  # ... the second, at the prompt, leaves
        status = chat.end(eof=False)
    assert status == 0, chat.err.text
    _assert_clean(chat.err.text)
    assert emu.executed_turns == 0


def test_end_of_input_leaves_with_status_0(threaded_emulator: Emulator) -> None:
    with chat_process([EXAMPLE, *INPUTS], _env(threaded_emulator)) as chat:
        chat.send("hi")
        status = chat.end()
    assert status == 0, chat.err.text
    assert "| hi" in chat.out.text
    _assert_clean(chat.err.text)


def test_commands(served_emulator: Emulator) -> None:
    lines = ["hello", "/history", "/new", "/history", "second", "/nope", "//slash", "/help"]
    result = CliRunner().invoke(
        main, ["chat", EXAMPLE, *INPUTS], input="\n".join([*lines, "/exit", "never sent"]) + "\n"
    )
    assert result.exit_code == 0, result.output
    output = result.output
    first, second = served_emulator.session_ids
    assert f"session {first}" in output
    assert f"new session {second}" in output
    # /history: this session's messages as the server keeps them; none yet after /new
    assert re.search(r"user> hello\n.*assistant> .*\| hello\n", output)
    assert "no messages yet" in output
    assert "unknown command /nope: /help lists them" in output
    assert "/history  show this session's messages" in output  # /help
    assert _executes(served_emulator) == ["hello", "second", "/slash"]
    sessions = [r.path.split("/")[4] for r in served_emulator.requests if "/execute/" in r.path]
    assert sessions == [first, second, second]
    assert "never sent" not in output  # /exit left


def test_new_needs_a_config(served_emulator: Emulator) -> None:
    CliRunner().invoke(main, ["chat", EXAMPLE, *INPUTS], input="hi\n")
    session_id = served_emulator.session_ids[0]
    result = CliRunner().invoke(main, ["chat", "--session", session_id], input="/new\n/history\n")
    assert result.exit_code == 0, result.output
    assert "/new needs a CONFIG" in result.output
    assert "user> hi" in result.output
    assert served_emulator.session_ids == [session_id]


def _history_env(emu: Emulator, path: Path) -> dict[str, str]:
    return _env(emu, AMAS_HISTORY_FILE=str(path), TERM="xterm", INPUTRC=os.devnull)


@pytest.mark.skipif(sys.platform == "win32", reason="no pseudo-terminals, no readline")
def test_line_editing_and_history_on_a_terminal(
    threaded_emulator: Emulator, tmp_path: Path
) -> None:
    pytest.importorskip("readline")
    import pty

    emu = threaded_emulator
    history = tmp_path / "history"
    left, up = "\x1b[D", "\x1b[A"

    def session(keys: list[str]) -> str:
        """Run a chat on a pseudo-terminal, typing each of ``keys`` at a prompt; its output."""
        controller, terminal = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "amas_async.cli", "chat", EXAMPLE, *INPUTS],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env=_history_env(emu, history),
        )
        os.close(terminal)
        screen = Output(lambda: os.read(controller, 4096))
        try:
            for number, typed in enumerate(keys, start=1):
                screen.wait_for("you> ", count=number)
                os.write(controller, typed.encode())
            assert proc.wait(WAIT) == 0, screen.text
        finally:
            if proc.poll() is None:  # pragma: no cover - only when the test already failed
                proc.kill()
                proc.wait()
            screen.close()
            os.close(controller)
        return screen.text

    # Left arrow moves back over "l": "x" goes in before it.
    session(["hel" + left + "x\r", "\x04"])
    assert _executes(emu) == ["hexl"]
    assert "hexl" in history.read_text()
    assert history.stat().st_mode & 0o077 == 0  # private, like a shell's history
    # The next chat recalls it from the file with Up.
    session([up + "\r", "\x04"])
    assert _executes(emu) == ["hexl", "hexl"]


def test_no_line_editing_without_a_terminal(threaded_emulator: Emulator, tmp_path: Path) -> None:
    """Piped input is read as it is: no readline, no history file."""
    history = tmp_path / "history"
    with chat_process([EXAMPLE, *INPUTS], _history_env(threaded_emulator, history)) as chat:
        chat.send("hel\x1b[Dx")
        status = chat.end()
    assert status == 0, chat.err.text
    assert _executes(threaded_emulator) == ["hel\x1b[Dx"]
    assert not history.exists()


def test_history_file_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from amas_async.cli.chat import history_file

    monkeypatch.delenv("AMAS_HISTORY_FILE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))  # Windows
    assert history_file() == tmp_path / ".amas_history"
    monkeypatch.setenv("AMAS_HISTORY_FILE", "~/chats")
    assert history_file() == tmp_path / "chats"
    monkeypatch.setenv("AMAS_HISTORY_FILE", "")  # no history file
    assert history_file() is None

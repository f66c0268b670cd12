"""The `amas` command, driven in-process with click's runner and, for serving, as a subprocess."""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import serving

from amas_async.cli import main
from amas_async.cli.demo import tiny_png
from amas_async.testing import Emulator

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "support_agent.yaml")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_demo_walks_the_tutorial(runner: CliRunner) -> None:
    result = runner.invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    for step in (
        "1. Create a session",
        "2. Execute",
        "3. Continue",
        "4. Upload an image",
        "5. A base64",
        "6. A public image URL",
        "7. Read the history",
        "8. A handled error",
    ):
        assert step in result.output
    assert "caught NotFoundError" in result.output
    assert "Greet" not in result.output  # the example's prompt is the support agent's
    assert "for Ada" in result.output
    assert "friendly tone" in result.output


def test_session_create_and_execute_against_a_server(
    runner: CliRunner, served_emulator: Emulator, tmp_path: Path
) -> None:
    created = runner.invoke(main, ["session", "create", EXAMPLE])
    assert created.exit_code == 0, created.output
    match = re.search(r"session_id: (\S+)", created.output)
    assert match
    assert "config_hash: object:" in created.output
    session_id = match.group(1)

    image = tmp_path / "dot.png"
    image.write_bytes(tiny_png())
    executed = runner.invoke(
        main,
        [
            "execute",
            session_id,
            "Hello there",
            "-i",
            "user_name=Ada",
            "-i",
            "tone=warm",
            "--image",
            str(image),
        ],
    )
    assert executed.exit_code == 0, executed.output
    assert "assistant>" in executed.output
    assert "for Ada" in executed.output
    assert "[image: " in executed.output
    (upload,) = served_emulator.uploads.values()
    assert upload.data == tiny_png()
    assert upload.filename == "dot.png"

    as_json = runner.invoke(main, ["execute", session_id, "Again", "-i", "tone=dry", "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["object"] == "agent.session"

    got = runner.invoke(main, ["session", "get", session_id])
    assert got.exit_code == 0
    assert f"session_id: {session_id}" in got.output
    assert "state: active" in got.output
    history = runner.invoke(main, ["session", "messages", session_id, "--limit", "2"])
    assert history.exit_code == 0
    assert "user> Hello there" in history.output
    assert "2 of 4 messages" in history.output
    assert served_emulator.executed_turns == 2


def test_errors_are_one_line_with_exit_1(
    runner: CliRunner, served_emulator: Emulator, tmp_path: Path
) -> None:
    missing = runner.invoke(main, ["execute", "no-such-session", "hi"])
    assert missing.exit_code == 1
    assert missing.output.startswith("error: 404")
    assert "Traceback" not in missing.output
    assert len(missing.output.strip().splitlines()) == 1

    no_file = runner.invoke(main, ["session", "create", str(tmp_path / "nope.yaml")])
    assert no_file.exit_code == 1
    assert "not found" in no_file.output

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nagents:\n  - name: a\n    agent_type: wizard\n")
    invalid = runner.invoke(main, ["session", "create", str(bad)])
    assert invalid.exit_code == 1
    assert "agents[0].agent_type" in invalid.output

    bad_input = runner.invoke(main, ["execute", "s", "hi", "-i", "novalue"])
    assert bad_input.exit_code == 2
    assert "key=value" in bad_input.output


def test_no_api_key_is_a_clear_error(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMAS_API_KEY", raising=False)
    result = runner.invoke(main, ["session", "get", "abc"])
    assert result.exit_code == 1
    assert "AMAS_API_KEY" in result.output


def test_emulator_flag_embeds_a_server(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMAS_API_KEY", raising=False)
    monkeypatch.setenv("AMAS_BASE_URL", "http://127.0.0.1:9/api/v1")  # would be refused
    result = runner.invoke(main, ["session", "create", EXAMPLE, "--emulator"])
    assert result.exit_code == 0, result.output
    assert "session_id:" in result.output


def test_chat_with_a_config_until_eof(runner: CliRunner) -> None:
    result = runner.invoke(
        main,
        ["chat", EXAMPLE, "--emulator", "-i", "user_name=Ada", "-i", "tone=kind"],
        input="Hello\n\nHow are you?\n",
    )
    assert result.exit_code == 0, result.output
    replies = [line for line in result.output.splitlines() if "assistant>" in line]
    assert len(replies) == 2
    assert replies[0].endswith("| Hello")
    assert replies[1].endswith("| How are you?")


def test_chat_reports_errors_and_goes_on(runner: CliRunner, served_emulator: Emulator) -> None:
    result = runner.invoke(main, ["chat", "--session", "no-such-session"], input="hi\nagain\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("error: 404") == 2


def test_chat_needs_exactly_one_source(runner: CliRunner) -> None:
    assert runner.invoke(main, ["chat"]).exit_code == 2
    assert runner.invoke(main, ["chat", EXAMPLE, "--session", "x"]).exit_code == 2


def test_emulator_command_serves_until_interrupted() -> None:
    with serving(["amas_async.cli", "emulator"], "--api-key", "k1") as banner:
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+/api/v1)", banner[0])
        assert match, banner
        env = dict(os.environ, AMAS_BASE_URL=match.group(1), AMAS_API_KEY="k1")
        created = subprocess.run(
            [sys.executable, "-m", "amas_async.cli", "session", "create", EXAMPLE],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        assert "session_id:" in created.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM cannot be handled on Windows")
@pytest.mark.parametrize(
    "command", [["amas_async.cli", "emulator"], ["amas_async.testing"]], ids=["amas", "python-m"]
)
def test_emulator_command_stops_cleanly_on_sigterm(command: list[str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", *command, "--port", "0", "--api-key", "k3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(4)]  # the handler is set before it
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)/api/v1", banner[0])
        assert match, banner
        port = int(match.group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass  # serving
        proc.send_signal(signal.SIGTERM)
        out, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:  # pragma: no cover - only when the test already failed
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr  # not -15: the signal ended it normally
    assert "Traceback" not in stderr
    assert out == ""  # nothing after the banner
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=10),
    ):
        pass  # the server is closed


def test_emulator_command_rejects_bad_settings(runner: CliRunner) -> None:
    result = runner.invoke(main, ["emulator", "--fault-rate", "2"])
    assert result.exit_code == 2
    assert "rate must be between 0 and 1" in result.output


def test_python_m_testing_serves_without_the_cli() -> None:
    """``python -m amas_async.testing`` is the testing package's own: it never loads the CLI."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "amas_async.testing",
            "--port=0",
            "--api-key=k2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().rstrip("\n") for _ in range(4)]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:  # pragma: no cover - only when the test already failed
                proc.kill()
                proc.communicate()
    assert re.fullmatch(r"AMAS emulator listening on http://127\.0\.0\.1:\d+/api/v1", lines[0])
    assert lines[1:] == [
        "API key: k2",
        f"export AMAS_BASE_URL={lines[0].rsplit(' ', 1)[1]} AMAS_API_KEY=k2",
        "Press Ctrl-C to stop.",
    ]
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "amas_async.testing._serve" in stderr  # the import log is there ...
    assert "amas_async.cli" not in stderr  # ... and the CLI is not in it


def test_python_m_testing_rejects_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    from amas_async.testing.__main__ import main as serve_main

    with pytest.raises(SystemExit) as exit_info:
        serve_main(["--fault-rate", "2"])
    assert exit_info.value.code == 2
    assert "rate must be between 0 and 1" in capsys.readouterr().err


def test_both_emulator_commands_report_a_busy_port(
    runner: CliRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    from amas_async.testing.__main__ import main as serve_main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = runner.invoke(main, ["emulator", "--port", port])
        assert result.exit_code == 1
        assert result.output.startswith(f"error: cannot listen on 127.0.0.1:{port}")
        assert "Traceback" not in result.output
        assert serve_main(["--port", port]) == 1
    assert capsys.readouterr().err.startswith(f"error: cannot listen on 127.0.0.1:{port}")


def test_the_emulator_settings_match_the_emulator() -> None:
    from amas_async.testing import DEFAULT_API_KEY
    from amas_async.testing._serve import SERVE_OPTIONS

    defaults = {option.name: option.default for option in SERVE_OPTIONS}
    assert defaults["api_key"] == DEFAULT_API_KEY
    assert defaults["port"] == 8765
    Emulator(**{**defaults, "port": 0})  # every setting is an Emulator keyword


def test_the_console_script_target_exists() -> None:
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    match = re.search(r'^amas = "([\w.]+):(\w+)"$', pyproject, re.MULTILINE)
    assert match
    module, name = match.groups()
    assert callable(getattr(importlib.import_module(module), name))


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert "amas" in result.output

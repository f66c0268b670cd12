"""What a newcomer reads when something is wrong: one line, naming the cause and the fix.

The missing key, a base URL without /api/v1, an unreachable server, a config file that is not
YAML or JSON, the batch counts, help that is never cut off, and the documented exit statuses.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from helpers import write_input

import amas_async as amas
from amas_async.cli import EXIT_STATUS, main
from amas_async.testing import Emulator, instant_retries

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "support_agent.yaml")
INPUTS = {"user_name": "Ada", "tone": "warm"}
NO_KEY = (
    "error: no API key: set AMAS_API_KEY (and AMAS_BASE_URL for another server), "
    "or add --emulator to run against a local emulator"
)
BAD_YAML = "name: Support\nagents:\n  - name: a\n    foo: bar: baz\n"


def invoke(args: list[str], **env: str) -> Result:
    return CliRunner().invoke(main, args, env={"COLUMNS": "80", **env})


def one_error_line(result: Result) -> str:
    """The single line the command printed, which must be an ``error:`` line."""
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMAS_API_KEY", raising=False)
    monkeypatch.delenv("AMAS_BASE_URL", raising=False)


@pytest.fixture
def bad_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_YAML, encoding="utf-8")
    return path


# ---- the missing key ---------------------------------------------------------------------------


@pytest.mark.usefixtures("no_key")
@pytest.mark.parametrize(
    "args",
    [["session", "get", "s1"], ["agents", "list"], ["execute", "s1", "hi"], ["files", "list"]],
)
def test_a_missing_key_says_what_to_set_and_mentions_emulator(args: list[str]) -> None:
    result = invoke(args)
    assert result.exit_code == 1
    assert one_error_line(result) == NO_KEY
    assert "api_key=" not in result.output


def test_a_blank_key_is_a_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMAS_API_KEY", "   ")
    result = invoke(["session", "get", "s1"])
    assert result.exit_code == 1
    assert one_error_line(result) == NO_KEY


@pytest.mark.usefixtures("no_key")
def test_a_missing_key_stops_a_batch_before_its_output_exists(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a", "content": "hi"}) + "\n")
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", str(source), "-o", str(out), "--config", EXAMPLE])
    assert result.exit_code == 1
    assert one_error_line(result) == NO_KEY
    assert not out.exists()


@pytest.mark.usefixtures("no_key")
def test_emulator_needs_no_key() -> None:
    result = invoke(["session", "create", EXAMPLE, "--emulator"])
    assert result.exit_code == 0, result.output
    assert "session_id: " in result.output


# ---- a base URL without /api/v1 ----------------------------------------------------------------


def origin_of(emulator: Emulator) -> str:
    """The emulator's base URL without its /api/v1: the classic mistake."""
    assert emulator.base_url.endswith("/api/v1")
    return emulator.base_url[: -len("/api/v1")]


@pytest.mark.parametrize("args", [["session", "get", "s1"], ["session", "create", EXAMPLE]])
def test_a_404_from_a_base_url_without_api_v1_suggests_the_fix(
    threaded_emulator: Emulator, args: list[str]
) -> None:
    origin = origin_of(threaded_emulator)
    result = invoke(args, AMAS_BASE_URL=origin, AMAS_API_KEY=threaded_emulator.api_key)
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line.startswith("error: 404 ")
    assert line.endswith(f": AMAS_BASE_URL has no /api/v1: did you mean {origin}/api/v1?")
    assert "should the base URL" not in line  # the CLI's exact hint replaces the SDK's


def test_a_404_with_the_right_base_url_has_no_hint(served_emulator: Emulator) -> None:
    result = invoke(["session", "get", "no-such-session"])
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line.startswith("error: 404 ")
    assert "/api/v1" in line  # the URL it asked for
    assert "did you mean" not in line
    assert "should the base URL" not in line


async def test_the_sdk_not_found_error_hints_at_a_missing_api_v1(
    amas_emulator: Emulator,
) -> None:
    origin = origin_of(amas_emulator)
    async with amas.AsyncAmas(base_url=origin, api_key=amas_emulator.api_key) as client:
        with pytest.raises(amas.NotFoundError) as caught:
            await client.sessions.get("s1")
    message = str(caught.value)
    assert f"(GET {origin}/sessions/s1/)" in message
    assert message.endswith("; the URL has no /api/v1: should the base URL end in /api/v1?")
    assert "\n" not in message

    async with amas.AsyncAmas(
        base_url=amas_emulator.base_url, api_key=amas_emulator.api_key
    ) as client:
        with pytest.raises(amas.NotFoundError) as caught:
            await client.sessions.get("s1")
    assert "should the base URL" not in str(caught.value)


# ---- an unreachable server ---------------------------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_server_names_the_url_and_suggests_the_emulator(closed_port: int) -> None:
    base = f"http://127.0.0.1:{closed_port}/api/v1"
    with instant_retries():
        result = invoke(["session", "get", "s1"], AMAS_BASE_URL=base, AMAS_API_KEY="k")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert f"is a server running at {base}?" in line
    assert "'amas emulator'" in line
    assert "--emulator" in line


def test_an_invalid_base_url_names_the_variable() -> None:
    result = invoke(["session", "get", "s1"], AMAS_BASE_URL="localhost:8000", AMAS_API_KEY="k")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line.startswith("error: AMAS_BASE_URL must be an absolute http(s) URL")


# ---- config files ------------------------------------------------------------------------------


def test_malformed_yaml_names_the_file_line_and_column(bad_yaml: Path) -> None:
    with pytest.raises(amas.ConfigValidationError) as caught:
        amas.SessionConfig.from_yaml(bad_yaml)
    error = caught.value
    assert str(error) == (
        f"{bad_yaml}: line 4, column 13: not valid YAML: mapping values are not allowed here"
    )
    assert (error.source, error.line, error.column, error.field) == (str(bad_yaml), 4, 13, "config")
    assert "<unicode string>" not in str(error)


def test_malformed_yaml_text_is_named_config_text() -> None:
    with pytest.raises(amas.ConfigValidationError) as caught:
        amas.SessionConfig.from_yaml(BAD_YAML)
    assert str(caught.value).startswith("<config text>: line 4, column 13: not valid YAML: ")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.json", b'{"name": "x",}', "bad.json: line 1, column 14: not valid JSON: Expecting"),
        ("flow.yaml", b"a: [1, 2\nb: 3\n", "flow.yaml: line 2, column 2: not valid YAML: expected"),
        ("tab.yaml", b"a: 1\n\tb: 2\n", "tab.yaml: line 2, column 1: not valid YAML: found"),
        ("ctl.yaml", b"a: 1\nb: \x01\n", "ctl.yaml: line 2, column 4: not valid YAML: unaccep"),
        ("list.yaml", b"- 1\n", "list.yaml: must hold a mapping of fields, got a list"),
        ("empty.yaml", b"", "empty.yaml: must hold a mapping of fields, got nothing"),
        ("latin1.yaml", b"name: caf\xe9\n", "latin1.yaml: not UTF-8 text (byte 0xe9 at offset 9)"),
    ],
)
def test_every_unreadable_config_is_one_line_naming_the_file(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(amas.ConfigValidationError) as caught:
        amas.SessionConfig.from_yaml(path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}{os.sep}{expected}")
    assert "\n" not in message


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(amas.InputFileNotFoundError) as caught:
        amas.SessionConfig.from_yaml(tmp_path)
    assert str(caught.value) == f"not a file: {str(tmp_path)!r} is a directory"


async def test_the_resources_report_a_malformed_file_before_sending(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator, bad_yaml: Path
) -> None:
    amas_emulator.requests = []
    expected = f"{bad_yaml}: line 4, column 13: not valid YAML: mapping values are not allowed here"
    with pytest.raises(amas.ConfigValidationError, match=re.escape(expected)):
        await amas_client.sessions.create(bad_yaml)
    with pytest.raises(amas.ConfigValidationError, match=re.escape(expected)):
        await amas_client.agents.create(bad_yaml)
    assert amas_emulator.requests == []


@pytest.mark.parametrize("command", [["session", "create"], ["agents", "create"], ["chat"]])
def test_the_cli_shows_a_malformed_config_in_one_line(bad_yaml: Path, command: list[str]) -> None:
    result = invoke([*command, str(bad_yaml), "--emulator"], AMAS_API_KEY="k")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line == (
        f"error: {bad_yaml}: line 4, column 13: not valid YAML: mapping values are not allowed here"
    )


def test_the_cli_names_a_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "support_agent.yaml"
    result = invoke(["session", "create", str(missing), "--emulator"])
    assert result.exit_code == 1
    assert one_error_line(result) == f"error: file not found: {str(missing)!r}"


# ---- amas batch: ok, failed and malformed lines are counted apart -----------------------------


def test_batch_counts_malformed_lines_apart_from_done_ones(
    served_emulator: Emulator, tmp_path: Path
) -> None:
    source = write_input(
        tmp_path / "in.jsonl",
        [
            {"id": "a", "content": "one", "inputs": INPUTS},
            "{not json",
            {"id": "b", "content": "two", "inputs": INPUTS},
            {"id": "c"},
            {"id": "d", "content": "three", "inputs": INPUTS},
        ],
    )
    out = tmp_path / "out.jsonl"
    served_emulator.fail_next(1, status=500, path="/execute/")  # one line fails
    result = invoke(
        ["batch", str(source), "-o", str(out), "--config", EXAMPLE, "--concurrency", "1"],
        COLUMNS="200",
    )
    assert result.exit_code == 1, result.output
    # the bar's final state: 5 lines handled, of which 2 ok, 1 failed and 2 malformed
    (bar,) = [line for line in result.output.splitlines() if line.startswith("batch ")]
    assert re.search(r" 5/5 2 ok 1 failed 2 malformed ", bar), bar
    (summary,) = [line for line in result.output.splitlines() if " ok, " in line]
    assert summary.startswith("2 ok, 1 failed, 2 malformed lines, 0 already done; 3 in ")


def test_batch_progress_is_all_ok_when_every_line_is(
    served_emulator: Emulator, tmp_path: Path
) -> None:
    source = write_input(
        tmp_path / "in.jsonl",
        [{"id": i, "content": f"q{i}", "inputs": INPUTS} for i in range(4)],
    )
    result = invoke(
        ["batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--config", EXAMPLE],
        COLUMNS="200",
    )
    assert result.exit_code == 0, result.output
    assert " 4/4 4 ok 0 failed 0 malformed " in result.output


# ---- help: never cut off -----------------------------------------------------------------------


def walk(command: click.Command, path: list[str]) -> Iterator[tuple[list[str], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, [*path, name])


GROUPS = [path for path, command in walk(main, []) if isinstance(command, click.Group)]
COMMANDS = [path for path, _ in walk(main, [])]


@pytest.mark.parametrize("path", GROUPS, ids=lambda path: " ".join(["amas", *path]))
def test_no_command_description_is_cut_off_at_80_columns(path: list[str]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    listing = result.output.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    group = main
    for name in path:
        assert isinstance(group, click.Group)
        group = group.commands[name]  # type: ignore[assignment]
    assert isinstance(group, click.Group)
    for name, sub in group.commands.items():
        full = sub.get_short_help_str(limit=1000)
        assert "..." not in full, f"{name}: {full}"
        assert "…" not in full, f"{name}: {full}"
        rows = [row for row in listing.splitlines() if row.split()[:1] == [name]]
        assert rows, listing
        assert " ".join(rows[0].split()[1:]) == full, f"cut off: {rows[0]!r}"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(["amas", *path]))
def test_every_help_page_fits_80_columns(path: list[str]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80, result.output


# ---- exit statuses -----------------------------------------------------------------------------


def test_the_exit_statuses_are_in_the_main_help() -> None:
    result = invoke(["--help"])
    assert result.exit_code == 0
    assert "Exit status:" in result.output
    for status in ("0", "1", "2", "130"):
        assert re.search(rf"^ +{status} +\S", result.output, re.MULTILINE), result.output
    assert "Exit status:" in EXIT_STATUS


def test_exit_0_on_success(no_key: None) -> None:
    assert invoke(["session", "create", EXAMPLE, "--emulator"]).exit_code == 0


def test_exit_1_on_an_api_error() -> None:
    result = invoke(["session", "get", "no-such-session", "--emulator"])
    assert result.exit_code == 1
    assert one_error_line(result).startswith("error: 404 ")


def test_exit_1_for_an_invalid_config_from_agents_validate(tmp_path: Path) -> None:
    config = tmp_path / "invalid.yaml"
    config.write_text("name: Nothing\nagents: []\n")
    result = invoke(["agents", "validate", str(config), "--emulator"])
    assert result.exit_code == 1
    assert result.output.startswith("invalid")


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["session", "get"],  # a missing argument
        ["session", "get", "s1", "--no-such-option"],
        ["session", "messages", "s1", "--limit", "many"],  # a bad value
        ["batch", "in.jsonl", "-o", "out.jsonl"],  # neither --config nor --session
        ["execute", "s1", "hi", "-i", "novalue"],
    ],
)
def test_exit_2_on_a_usage_error(args: list[str]) -> None:
    result = invoke(args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_exit_130_on_ctrl_c_with_one_line_and_no_traceback(served_emulator: Emulator) -> None:
    created = invoke(["session", "create", EXAMPLE])
    match = re.search(r"session_id: (\S+)", created.output)
    assert match, created.output
    served_emulator.set_turn_delay(0.5)  # the turn pends while Ctrl-C arrives
    proc = subprocess.Popen(
        [sys.executable, "-m", "amas_async.cli", "execute", match.group(1), "hi"]
        + [arg for name, value in INPUTS.items() for arg in ("-i", f"{name}={value}")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not served_emulator.in_flight and proc.poll() is None:
            time.sleep(0.01)
        assert served_emulator.in_flight == 1, proc.poll()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # pragma: no cover - only when the test already failed
            proc.kill()
            proc.communicate()
        served_emulator.set_turn_delay(0)
    assert proc.returncode == 130, stderr
    assert stderr == "interrupted\n"
    assert stdout == ""

"""`amas batch`: JSONL in, JSONL out, sessions by key, malformed lines, resume, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from click.testing import CliRunner
from helpers import BATCH_INPUTS as INPUTS
from helpers import lines_for, read_output, write_input

from amas_async.cli import main
from amas_async.testing import Emulator

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "support_agent.yaml")


def test_batch_writes_one_line_per_id(served_emulator: Emulator, tmp_path: Path) -> None:
    source = write_input(
        tmp_path / "in.jsonl",
        [*lines_for(40, sessions=4), {"id": 99, "content": "lone", "inputs": INPUTS}],
    )
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        main,
        [
            "batch",
            str(source),
            "-o",
            str(out),
            "--config",
            EXAMPLE,
            "--concurrency",
            "4",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "41 ok, 0 failed" in result.output
    records = read_output(out)
    assert sorted(r["id"] for r in records) == sorted([f"q{i}" for i in range(40)] + ["99"])
    assert all(r["status"] == "ok" and r["error"] is None for r in records)
    first = next(r for r in records if r["id"] == "q0")
    prompt = "You are a helpful customer support agent for Ada. Answer in a warm tone."
    assert first["text"] == f"[support_agent] {prompt} | question 0"
    assert first["usage"] == {"input_tokens": 16, "output_tokens": 18}
    assert first["attempts"] == 1
    # lines with one key share one session; a line without a key gets its own
    by_key: dict[str, set[str]] = {}
    for r in records:
        by_key.setdefault(str(r["session"]), set()).add(r["session_id"])
    assert all(len(ids) == 1 for key, ids in by_key.items() if key != "None")
    assert len(served_emulator.session_ids) == 5
    # each session's history holds its lines in input order
    for key in ("s0", "s1"):
        (sid,) = by_key[key]
        said = [m.content for m in served_emulator.session_state(sid).history if m.role == "user"]
        assert said == [f"question {i}" for i in range(40) if f"s{i % 4}" == key]


def test_malformed_lines_are_reported_and_skipped(
    served_emulator: Emulator, tmp_path: Path
) -> None:
    source = write_input(
        tmp_path / "in.jsonl",
        [
            {"id": "a", "content": "fine", "inputs": INPUTS},
            "{not json",
            {"content": "no id"},
            {"id": "b"},
            "",
            {"id": "a", "content": "duplicate", "inputs": INPUTS},
            [1, 2],
            {"id": "c", "content": "fine too", "inputs": INPUTS, "extra": 1},
            {"id": "d", "content": "also fine", "inputs": INPUTS},
        ],
    )
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        main, ["batch", str(source), "-o", str(out), "--config", EXAMPLE, "--no-progress"]
    )
    assert result.exit_code == 1
    for number, reason in [
        (2, "not valid JSON"),
        (3, "needs an 'id'"),
        (4, "needs 'content'"),
        (6, "duplicate id 'a'"),
        (7, "expected a JSON object"),
        (8, "unknown keys"),
    ]:
        assert f"line {number}: {reason}" in result.output
    assert "2 ok, 0 failed, 6 malformed lines" in result.output
    assert [r["id"] for r in read_output(out)] == ["a", "d"] or sorted(
        r["id"] for r in read_output(out)
    ) == ["a", "d"]


def test_resume_retries_failures_and_skips_what_is_done(
    served_emulator: Emulator, tmp_path: Path
) -> None:
    source = write_input(tmp_path / "in.jsonl", lines_for(30, sessions=3))
    out = tmp_path / "out.jsonl"
    served_emulator.fail_next(5, status=500, path="/execute/")  # not retried for executions
    first = CliRunner().invoke(
        main,
        [
            "batch",
            str(source),
            "-o",
            str(out),
            "--config",
            EXAMPLE,
            "--concurrency",
            "1",
            "--no-progress",
        ],
    )
    assert first.exit_code == 1
    assert "25 ok, 5 failed" in first.output
    failed = [r for r in read_output(out) if r["status"] == "error"]
    assert len(failed) == 5
    assert failed[0]["error"]["type"] == "InternalServerError"
    assert failed[0]["error"]["status_code"] == 500
    sessions_before = {r["session"]: r["session_id"] for r in read_output(out)}
    turns_before = served_emulator.executed_turns

    second = CliRunner().invoke(
        main, ["batch", str(source), "-o", str(out), "--config", EXAMPLE, "--no-progress"]
    )
    assert second.exit_code == 0, second.output
    assert "5 ok, 0 failed, 0 malformed lines, 25 already done" in second.output
    records = read_output(out)
    assert Counter(r["id"] for r in records) == Counter(
        f"q{i}" for i in range(30)
    )  # exactly one each
    assert all(r["status"] == "ok" for r in records)
    assert served_emulator.executed_turns == turns_before + 5
    assert {r["session"]: r["session_id"] for r in records} == sessions_before  # same conversations
    assert len(served_emulator.session_ids) == 3


def test_a_crash_cut_line_is_dropped_on_resume(served_emulator: Emulator, tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", lines_for(6))
    out = tmp_path / "out.jsonl"
    assert (
        CliRunner()
        .invoke(main, ["batch", str(source), "-o", str(out), "--config", EXAMPLE, "--no-progress"])
        .exit_code
        == 0
    )
    records = read_output(out)
    lost = records.pop()
    out.write_text("".join(json.dumps(r) + "\n" for r in records) + json.dumps(lost)[:20])
    again = CliRunner().invoke(
        main, ["batch", str(source), "-o", str(out), "--config", EXAMPLE, "--no-progress"]
    )
    assert again.exit_code == 0, again.output
    assert "1 ok, 0 failed, 0 malformed lines, 5 already done" in again.output
    assert Counter(r["id"] for r in read_output(out)) == Counter(f"q{i}" for i in range(6))


def test_one_session_for_every_line(served_emulator: Emulator, tmp_path: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(main, ["session", "create", EXAMPLE])
    session_id = created.output.split("session_id: ")[1].split()[0]
    source = write_input(tmp_path / "in.jsonl", lines_for(5))
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        main, ["batch", str(source), "-o", str(out), "--session", session_id, "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert {r["session_id"] for r in read_output(out)} == {session_id}
    said = [
        m.content for m in served_emulator.session_state(session_id).history if m.role == "user"
    ]
    assert said == [f"question {i}" for i in range(5)]


def test_batch_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    source = write_input(tmp_path / "in.jsonl", lines_for(1))
    out = str(tmp_path / "out.jsonl")
    assert runner.invoke(main, ["batch", str(source), "-o", out]).exit_code == 2
    assert (
        runner.invoke(
            main, ["batch", str(source), "-o", out, "--config", EXAMPLE, "--session", "x"]
        ).exit_code
        == 2
    )
    missing = runner.invoke(
        main, ["batch", str(tmp_path / "nope.jsonl"), "-o", out, "--config", EXAMPLE, "--emulator"]
    )
    assert missing.exit_code == 1
    assert "input file not found" in missing.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nagents: []\n")
    invalid = runner.invoke(
        main, ["batch", str(source), "-o", out, "--config", str(bad), "--emulator"]
    )
    assert invalid.exit_code == 1
    assert "agents" in invalid.output
    assert not Path(out).exists() or Path(out).read_text() == ""


def test_progress_bar_and_summary(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", lines_for(20, sessions=2))
    out = tmp_path / "out.jsonl"
    env = dict(os.environ, COLUMNS="120", FORCE_COLOR="0", TERM="dumb")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "amas_async.cli",
            "batch",
            str(source),
            "-o",
            str(out),
            "--config",
            EXAMPLE,
            "--emulator",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "batch" in proc.stderr
    assert "20/20" in proc.stderr  # the bar's final state: done of total
    assert "0 failed" in proc.stderr
    assert "/s" in proc.stderr  # the rate
    assert "20 ok, 0 failed" in proc.stderr


def test_ctrl_c_keeps_what_finished_and_resume_completes(
    served_emulator: Emulator, tmp_path: Path
) -> None:
    served_emulator.set_turn_delay(0.02)
    source = write_input(tmp_path / "in.jsonl", lines_for(200, sessions=4))
    out = tmp_path / "out.jsonl"
    command = [
        sys.executable,
        "-m",
        "amas_async.cli",
        "batch",
        str(source),
        "-o",
        str(out),
        "--config",
        EXAMPLE,
        "--concurrency",
        "4",
        "--no-progress",
    ]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            not out.exists() or len(out.read_bytes().splitlines()) < 20
        ):
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # pragma: no cover - only when the test already failed
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "interrupted: re-run the same command to resume" in stderr
    assert "Traceback" not in stderr
    partial = read_output(out)  # every line is whole JSON
    assert 20 <= len(partial) < 200
    served_emulator.set_turn_delay(0)
    again = CliRunner().invoke(
        main, ["batch", str(source), "-o", str(out), "--config", EXAMPLE, "--no-progress"]
    )
    assert again.exit_code == 0, again.output
    records = read_output(out)
    assert Counter(r["id"] for r in records) == Counter(f"q{i}" for i in range(200))
    # no duplicated turn: lines in flight at Ctrl-C may have run on the server; the resumed run
    # sends the same Idempotency-Key for them, so they are replayed, not run again
    assert served_emulator.executed_turns == 200

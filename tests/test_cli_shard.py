"""`amas batch --shard I/N`: a deterministic, disjoint split of the lines, one output per shard."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from helpers import BATCH_INPUTS as INPUTS
from helpers import lines_for, read_output, write_input

from amas_async.cli import main
from amas_async.cli.batchfile import Shard, shard_of
from amas_async.testing import Emulator

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "support_agent.yaml")
MALFORMED = re.compile(r"^line (\d+): ", re.MULTILINE)


def run_batch(source: Path, out: Path, *extra: str) -> Result:
    return CliRunner().invoke(
        main,
        ["batch", str(source), "-o", str(out), "--config", EXAMPLE, "--no-progress", *extra],
    )


def comparable(records: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """Records by id, on what does not change between runs (not elapsed, session_id, ...)."""
    return {r["id"]: (r["id"], r["status"], r["text"], r["session"]) for r in records}


def test_the_shards_together_are_the_unsharded_run(
    served_emulator: Emulator, tmp_path: Path
) -> None:
    source = write_input(
        tmp_path / "in.jsonl",
        [
            *lines_for(60),  # no session key: each line goes by its id
            *lines_for(36, sessions=6, start=60),  # 6 conversations of 6 turns
            "{not json",
            {"content": "no id"},
            {"id": "q3", "content": "duplicate of a line without a key", "inputs": INPUTS},
            {"id": "q61", "content": "duplicate, another key", "session": "zz"},
            "",
            {"id": 7, "content": "an integer id", "inputs": INPUTS},
            {"id": "x", "content": "unknown key", "extra": 1},
            [1, 2],
        ],
    )
    whole = run_batch(source, tmp_path / "all.jsonl")
    assert whole.exit_code == 1  # the malformed lines
    assert "97 ok, 0 failed, 6 malformed lines" in whole.output
    expected = comparable(read_output(tmp_path / "all.jsonl"))
    expected_malformed = Counter(int(n) for n in MALFORMED.findall(whole.output))
    assert sorted(expected_malformed) == [97, 98, 99, 100, 103, 104]
    assert served_emulator.executed_turns == 97

    union: list[dict[str, Any]] = []
    reported: Counter[int] = Counter()
    for index in range(4):
        result = run_batch(source, tmp_path / "part.jsonl", "--shard", f"{index}/4")
        records = read_output(tmp_path / f"part.shard-{index}-of-4.jsonl")
        assert 0 < len(records) < 97  # every shard has a part, none has all
        mine = Counter(int(n) for n in MALFORMED.findall(result.output))
        assert f"batch {index}/4: {len(records)} ok, 0 failed, {sum(mine.values())} malformed" in (
            result.output
        )
        assert result.exit_code == (1 if mine else 0), result.output
        # the shard holds exactly the lines whose key (session, else id) hashes to it
        for r in records:
            assert shard_of(r["session"] or r["id"], 4) == index
        union.extend(records)
        reported.update(mine)
    assert not (tmp_path / "part.jsonl").exists()

    ids = Counter(r["id"] for r in union)
    assert max(ids.values()) == 1  # no line in two shards
    assert set(ids) == set(expected)  # every line in one
    assert comparable(union) == expected
    assert reported == expected_malformed  # each malformed line reported by exactly one shard
    assert served_emulator.executed_turns == 2 * 97  # each line ran once more, not more

    # a conversation is not split: one session per key, its turns in input order
    for key in (f"s{k}" for k in range(6)):
        (sid,) = {r["session_id"] for r in union if r["session"] == key}
        said = [m.content for m in served_emulator.session_state(sid).history if m.role == "user"]
        assert said == [f"question {i}" for i in range(60, 96) if f"s{i % 6}" == key]


def test_the_assignment_is_pinned() -> None:
    # a change of formula would move lines of a half-done sharded run to other shards
    assert [shard_of(f"q{i}", 8) for i in range(24)] == [
        7, 2, 3, 7, 3, 5, 1, 7, 1, 0, 2, 6, 4, 1, 6, 1, 0, 0, 6, 4, 5, 4, 4, 7,
    ]  # fmt: skip
    assert [shard_of(key, 4) for key in ["", "a", "7", "é", "s0", "s1", "s2", "s3"]] == [
        0, 2, 2, 3, 3, 3, 2, 0,
    ]  # fmt: skip
    # the documented formula, as another tool would compute it
    for key in ["q0", "q1", "é", "a-much-longer-id/with:punctuation", "12345"]:
        for count in (1, 2, 3, 8, 1000):
            digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
            assert shard_of(key, count) == int(digest[:16], 16) % count
    with pytest.raises(ValueError, match="at least 1"):
        shard_of("q0", 0)


def test_each_shard_resumes_from_its_own_file(served_emulator: Emulator, tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", lines_for(60, sessions=20))
    out = tmp_path / "out.jsonl"
    first = run_batch(source, out, "--shard", "0/2")
    assert first.exit_code == 0, first.output
    other = tmp_path / "out.shard-0-of-2.jsonl"
    untouched = other.read_bytes()

    served_emulator.fail_next(4, status=500, path="/execute/")  # not retried for executions
    mine = tmp_path / "out.shard-1-of-2.jsonl"
    failing = run_batch(source, out, "--shard", "1/2", "--concurrency", "1")
    assert failing.exit_code == 1
    records = read_output(mine)
    own = len(records)
    assert sum(r["status"] == "error" for r in records) == 4
    assert f"batch 1/2: {own - 4} ok, 4 failed" in failing.output
    turns = served_emulator.executed_turns

    again = run_batch(source, out, "--shard", "1/2")
    assert again.exit_code == 0, again.output
    assert f"batch 1/2: 4 ok, 0 failed, 0 malformed lines, {own - 4} already done" in again.output
    assert served_emulator.executed_turns == turns + 4  # only the shard's failed lines re-ran
    records = read_output(mine)
    assert Counter(r["id"] for r in records) == Counter({r["id"]: 1 for r in records})
    assert len(records) == own
    assert all(r["status"] == "ok" for r in records)
    assert other.read_bytes() == untouched  # the other shard's file is not touched

    done = run_batch(source, out, "--shard", "0/2")  # nothing left in shard 0
    assert done.exit_code == 0, done.output
    assert f"0 ok, 0 failed, 0 malformed lines, {60 - own} already done" in done.output
    assert served_emulator.executed_turns == turns + 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.jsonl",
        "out.shard-0-of-2.jsonl",
        "out.shard-1-of-2.jsonl",
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("8/8", "shard index 8 is out of range"),
        ("-1/4", "shard index -1 is out of range"),
        ("a/b", "expected I/N"),
        ("3", "expected I/N"),
        ("0/0", "N must be at least 1"),
        ("", "expected I/N"),
    ],
)
def test_bad_shard_values_are_usage_errors(value: str, reason: str, tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", lines_for(2))
    result = CliRunner().invoke(
        main,
        [
            *("batch", str(source), "-o", str(tmp_path / "o.jsonl"), "--config", EXAMPLE),
            *("--emulator", "--shard", value),
        ],
    )
    assert result.exit_code == 2
    assert "Invalid value for '--shard'" in result.output
    assert reason in result.output
    assert "0 <= I < N" in result.output  # the 0-based range is named
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_one_session_cannot_be_split_and_keys_do_not_change(
    served_emulator: Emulator, tmp_path: Path
) -> None:
    runner = CliRunner()
    created = runner.invoke(main, ["session", "create", EXAMPLE])
    session_id = created.output.split("session_id: ")[1].split()[0]
    source = write_input(tmp_path / "in.jsonl", lines_for(3))
    out = tmp_path / "out.jsonl"
    split = runner.invoke(
        main, ["batch", str(source), "-o", str(out), "--session", session_id, "--shard", "1/2"]
    )
    assert split.exit_code == 2
    assert "--shard cannot split lines that all run in one --session" in split.output
    plain = runner.invoke(
        main, ["batch", str(source), "-o", str(out), "--session", session_id, "--no-progress"]
    )
    assert plain.exit_code == 0, plain.output
    turns = served_emulator.executed_turns
    whole = runner.invoke(
        main,
        [
            *("batch", str(source), "-o", str(out), "--session", session_id),
            *("--shard", "0/1", "--no-progress"),
        ],
    )
    assert whole.exit_code == 0, whole.output
    assert len(read_output(tmp_path / "out.shard-0-of-1.jsonl")) == 3
    # the sharded run sent the lines' keys of the plain run: the server replayed, ran nothing
    assert served_emulator.executed_turns == turns


def test_progress_and_summary_name_the_shard(
    served_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    source = write_input(tmp_path / "in.jsonl", lines_for(40))
    mine = sum(shard_of(f"q{i}", 4) == 2 for i in range(40))
    result = CliRunner().invoke(
        main,
        [
            *("batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--config", EXAMPLE),
            *("--shard", "2/4"),
        ],
    )
    assert result.exit_code == 0, result.output
    bar, summary = result.output.splitlines()[-2:]
    assert bar.startswith("batch 2/4 ")
    assert f" {mine}/{mine} " in bar  # the total counts the shard's lines only
    assert summary.startswith(f"batch 2/4: {mine} ok, 0 failed, 0 malformed lines")
    assert summary.endswith(f"-> {tmp_path / 'out.shard-2-of-4.jsonl'}")


def test_output_naming(served_emulator: Emulator, tmp_path: Path) -> None:
    shard = Shard(3, 8)
    assert str(shard) == "3/8"
    assert shard.output_path(Path("results.jsonl")) == Path("results.shard-3-of-8.jsonl")
    assert shard.output_path(Path("results")) == Path("results.shard-3-of-8")
    assert shard.output_path(Path("d/r.v2.jsonl")) == Path("d/r.v2.shard-3-of-8.jsonl")
    assert Shard.parse("0/1").output_path(Path("r.jsonl")) == Path("r.shard-0-of-1.jsonl")

    source = write_input(tmp_path / "in.jsonl", lines_for(12))
    result = run_batch(source, tmp_path / "results", "--shard", "1/3")
    assert result.exit_code == 0, result.output
    assert f"-> {tmp_path / 'results.shard-1-of-3'}" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "results.shard-1-of-3"]
    # 0/1 runs every line, into a file named like the other shards' (so scripts need no case)
    every = run_batch(source, tmp_path / "results.jsonl", "--shard", "0/1")
    assert every.exit_code == 0, every.output
    assert "batch 0/1: 12 ok" in every.output
    assert len(read_output(tmp_path / "results.shard-0-of-1.jsonl")) == 12

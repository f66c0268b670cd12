"""`amas batch` creates its sessions with keys derived from the batch, so a resumed run
gets the same sessions back and a line that may have run is replayed, not run twice."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from helpers import BATCH_INPUTS as INPUTS
from helpers import read_output, write_input

from amas_async.cli import main
from amas_async.testing import Emulator

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "support_agent.yaml"


def run_batch(source: Path, out: Path, config: Path = EXAMPLE, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        ["batch", str(source), "-o", str(out), "--config", str(config), "--no-progress", *extra],
    )
    return result.exit_code, result.output


def session_posts(emu: Emulator) -> list[str]:
    """The Idempotency-Key of every session creation the emulator received, in order."""
    return [
        request.headers["Idempotency-Key"]
        for request in emu.requests
        if request.method == "POST" and request.path.endswith("/sessions/")
    ]


def test_a_lost_answer_is_replayed_on_resume_not_run_again(
    served_emulator: Emulator, tmp_path: Path
) -> None:
    # no 'session' key: the line gets a session of its own, which must be the same on resume
    source = write_input(
        tmp_path / "in.jsonl", [{"id": "lone", "content": "Hello", "inputs": INPUTS}]
    )
    out = tmp_path / "out.jsonl"
    served_emulator.fail_next(drop="after", path="/execute/")  # the turn runs, its answer is lost
    turns = served_emulator.executed_turns
    code, output = run_batch(source, out)
    assert code == 1, output
    (failed,) = read_output(out)
    assert failed["status"] == "error"
    assert served_emulator.executed_turns == turns + 1  # the turn did run on the server
    sessions = len(served_emulator.session_ids)

    code, output = run_batch(source, out)
    assert code == 0, output
    (done,) = read_output(out)
    assert done["status"] == "ok"
    assert done["session_id"] == failed["session_id"]
    assert served_emulator.executed_turns == turns + 1  # replayed, not run a second time
    assert len(served_emulator.session_ids) == sessions  # the same session, none new
    said = [
        m.content
        for m in served_emulator.session_state(done["session_id"]).history
        if m.role == "user"
    ]
    assert said == ["Hello"]


def test_an_interrupted_conversation_gets_its_session_back(
    served_emulator: Emulator, tmp_path: Path
) -> None:
    # a 'session' key none of whose lines finished: the output records no session for it
    source = write_input(
        tmp_path / "in.jsonl",
        [
            {"id": "first", "content": "Hello", "inputs": INPUTS, "session": "chat"},
            {"id": "other", "content": "Bye", "inputs": INPUTS},
        ],
    )
    out = tmp_path / "out.jsonl"
    served_emulator.fail_next(drop="after", path="/execute/")  # the first line's turn
    turns = served_emulator.executed_turns
    code, output = run_batch(source, out, EXAMPLE, "--concurrency", "1")
    assert code == 1, output
    assert served_emulator.executed_turns == turns + 2
    records = read_output(out)
    (lost,) = [r for r in records if r["id"] == "first"]
    assert lost["status"] == "error"
    # the run crashed before the line's record was whole: cut it short, as a crash would
    kept = [line for line in out.read_text().splitlines() if '"first"' not in line]
    out.write_text("".join(line + "\n" for line in kept) + '{"id": "first", "sta')
    sessions = len(served_emulator.session_ids)

    code, output = run_batch(source, out)
    assert code == 0, output
    assert "1 ok, 0 failed, 0 malformed lines, 1 already done" in output
    (resumed,) = [r for r in read_output(out) if r["id"] == "first"]
    assert resumed["status"] == "ok"
    assert resumed["session_id"] == lost["session_id"]
    assert served_emulator.executed_turns == turns + 2  # replayed, not run again
    assert len(served_emulator.session_ids) == sessions
    said = [
        m.content
        for m in served_emulator.session_state(resumed["session_id"]).history
        if m.role == "user"
    ]
    assert said == ["Hello"]


def test_two_batches_get_sessions_of_their_own(served_emulator: Emulator, tmp_path: Path) -> None:
    lines = [
        {"id": "a", "content": "Hello", "inputs": INPUTS, "session": "chat"},
        {"id": "b", "content": "Hello", "inputs": INPUTS},
    ]
    source = write_input(tmp_path / "in.jsonl", lines)
    turns = served_emulator.executed_turns
    assert run_batch(source, tmp_path / "one.jsonl")[0] == 0
    assert run_batch(source, tmp_path / "two.jsonl")[0] == 0
    one = {r["id"]: r["session_id"] for r in read_output(tmp_path / "one.jsonl")}
    two = {r["id"]: r["session_id"] for r in read_output(tmp_path / "two.jsonl")}
    assert len({*one.values(), *two.values()}) == 4  # no session shared between batches
    assert served_emulator.executed_turns == turns + 4  # each batch ran its own turns

    # shards write files of their own: each is a batch of its own
    assert run_batch(source, tmp_path / "one.jsonl", EXAMPLE, "--shard", "0/1")[0] == 0
    shard = {r["id"]: r["session_id"] for r in read_output(tmp_path / "one.shard-0-of-1.jsonl")}
    assert not set(shard.values()) & {*one.values(), *two.values()}

    # a changed config is a new batch too: its sessions are made from the new config
    changed = tmp_path / "changed.yaml"
    changed.write_text(EXAMPLE.read_text().replace("helpful", "patient"))
    (tmp_path / "one.jsonl").unlink()
    assert run_batch(source, tmp_path / "one.jsonl", changed)[0] == 0
    again = {r["id"]: r["session_id"] for r in read_output(tmp_path / "one.jsonl")}
    assert not set(again.values()) & {*one.values(), *two.values(), *shard.values()}
    assert all("patient" in r["text"] for r in read_output(tmp_path / "one.jsonl"))


def test_session_creations_carry_a_derived_key(served_emulator: Emulator, tmp_path: Path) -> None:
    lines = [
        {"id": "a", "content": "Hello", "inputs": INPUTS, "session": "chat"},
        {"id": "b", "content": "More", "inputs": INPUTS, "session": "chat"},
        {"id": "c", "content": "Hello", "inputs": INPUTS},
        {"id": "d", "content": "Hello", "inputs": INPUTS},
    ]
    source = write_input(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    served_emulator.requests.clear()
    assert run_batch(source, out)[0] == 0
    keys = session_posts(served_emulator)
    assert len(keys) == 3  # one for the key "chat", one each for c and d
    assert len(set(keys)) == 3
    assert all(key.startswith("amas-batch-session-") for key in keys)

    # the same batch run again, even from a deleted output, sends the same keys: a server that
    # honours them answers with the first sessions and replays the answers
    sessions = {r["id"]: r["session_id"] for r in read_output(out)}
    turns = served_emulator.executed_turns
    out.unlink()
    served_emulator.requests.clear()
    assert run_batch(source, out)[0] == 0
    assert session_posts(served_emulator) == keys
    assert {r["id"]: r["session_id"] for r in read_output(out)} == sessions
    assert served_emulator.executed_turns == turns

    # --session ID creates no session
    served_emulator.requests.clear()
    given = tmp_path / "given.jsonl"
    result = CliRunner().invoke(
        main,
        ["batch", str(source), "-o", str(given), "--no-progress", "--session", sessions["c"]],
    )
    assert result.exit_code == 0, result.output
    assert session_posts(served_emulator) == []
    assert {r["session_id"] for r in read_output(given)} == {sessions["c"]}

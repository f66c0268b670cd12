"""``amas_async.ray`` without a cluster: the stage called on batches, and the rate ledger.

``AmasExecute`` is an ordinary callable class: here it runs on the test's event loop against
the emulator, in each of Ray Data's three batch formats, so its columns, sessions, keys and
errors are checked fast and deterministically. What needs Ray itself (actors, retries, a
killed actor, the cluster-wide limit) is in ``test_ray_cluster.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import amas_async as amas
from amas_async.ray import (
    INPUT_COLUMNS,
    OUTPUT_COLUMNS,
    AmasExecute,
    AmasExecuteGroups,
    ClusterRateLimit,
    RateLedger,
    RowFailedError,
)
from amas_async.testing import Emulator

CONFIG = "examples/support_agent.yaml"
CONFIG_TEXT = Path(CONFIG).read_text(encoding="utf-8")
INPUTS = {"user_name": "Ada", "tone": "calm"}

Make = Callable[..., AmasExecute]


@pytest.fixture
async def make_stage(amas_emulator: Emulator) -> AsyncIterator[Make]:
    stages: list[AmasExecute] = []

    def make(**kwargs: Any) -> AmasExecute:
        options: dict[str, Any] = {
            "base_url": amas_emulator.base_url,
            "api_key": amas_emulator.api_key,
            "run_id": "test-run",
            "config": CONFIG,
        }
        options.update(kwargs)
        stage = AmasExecute(**options)
        stages.append(stage)
        return stage

    yield make
    for stage in stages:
        await stage.aclose()


def numpy_batch(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    columns: dict[str, np.ndarray] = {}
    for name in rows[0]:
        array = np.empty(len(rows), dtype=object)
        array[:] = [row[name] for row in rows]
        columns[name] = array
    return columns


def user_turns(emulator: Emulator, session_id: str) -> list[Any]:
    state = emulator.session_state(session_id)
    return [message.content for message in state.history if message.role == "user"]


def execute_requests(emulator: Emulator) -> list[Any]:
    return [r for r in emulator.requests if r.path.endswith("/execute/")]


# ---------------------------------------------------------------- columns and formats


@pytest.mark.parametrize("kind", ["numpy", "pandas", "pyarrow"])
async def test_each_batch_format_gets_its_results_in_the_same_format(
    make_stage: Make, amas_emulator: Emulator, kind: str
) -> None:
    rows = [{"id": i, "content": f"hello {i}", "inputs": INPUTS} for i in range(5)]
    batch: Any
    if kind == "numpy":
        batch = numpy_batch(rows)
    elif kind == "pandas":
        batch = pd.DataFrame(rows)
    else:
        batch = pa.Table.from_pylist(rows)
    out = await make_stage()(batch)
    assert type(out) is type(batch)
    records = (
        out.to_pylist()
        if kind == "pyarrow"
        else out.to_dict("records")
        if kind == "pandas"
        else [{name: out[name][i] for name in out} for i in range(5)]
    )
    assert [r["id"] for r in records] == [0, 1, 2, 3, 4]  # input order, input columns kept
    for i, record in enumerate(records):
        assert record["status"] == "ok"
        assert record["text"].endswith(f"| hello {i}")
        assert record["input_tokens"] > 0
        assert record["output_tokens"] > 0
        assert record["attempts"] == 1
        assert record["error_type"] is None
        assert record["error"] is None
        assert user_turns(amas_emulator, record["session_id"]) == [f"hello {i}"]
    assert set(OUTPUT_COLUMNS) <= set(records[0])
    assert amas_emulator.executed_turns == 5
    assert len(amas_emulator.session_ids) == 5  # no session column: one session per row


async def test_rows_with_one_session_key_share_a_session_in_order(
    make_stage: Make, amas_emulator: Emulator
) -> None:
    rows = [
        {"id": f"r{i}", "content": f"turn {i}", "inputs": INPUTS, "session": f"c{i % 3}"}
        for i in range(12)
    ]
    out = await make_stage(concurrency=4)(pa.Table.from_pylist(rows))
    records = out.to_pylist()
    by_key: dict[str, set[str]] = {}
    for record in records:
        by_key.setdefault(record["session"], set()).add(record["session_id"])
    assert all(len(ids) == 1 for ids in by_key.values())
    assert len(amas_emulator.session_ids) == 3
    for key, (session_id,) in by_key.items():
        expected = [r["content"] for r in rows if r["session"] == key]
        assert user_turns(amas_emulator, session_id) == expected  # in input order


async def test_existing_sessions_by_column(
    make_stage: Make, amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    session = await amas_client.sessions.create(CONFIG)
    rows = [
        {"id": 1, "content": "one", "inputs": INPUTS, "session_id": session.id},
        {"id": 2, "content": "two", "inputs": {"tone": "calm"}, "session_id": session.id},
    ]
    records = (await make_stage(config=None)(pa.Table.from_pylist(rows))).to_pylist()
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert [r["session_id"] for r in records] == [session.id, session.id]
    assert user_turns(amas_emulator, session.id) == ["one", "two"]
    assert len(amas_emulator.session_ids) == 1  # nothing created


async def test_sessions_from_a_saved_agent_key_are_keyed_posts(
    make_stage: Make, amas_emulator: Emulator
) -> None:
    agent = amas_emulator.register_agent(CONFIG)
    rows = [{"id": i, "content": f"q{i}", "inputs": INPUTS, "session": "a"} for i in range(3)]
    stage = make_stage(config=None, agent_key=agent.agent_key)
    records = (await stage(pa.Table.from_pylist(rows))).to_pylist()
    assert {r["status"] for r in records} == {"ok"}
    creates = [r for r in amas_emulator.requests if "/sessions/from-agent/" in r.path]
    # the id form (a POST that carries a key), never the GET that would make a new session
    assert [(r.method, r.path) for r in creates] == [
        ("POST", f"/api/v1/sessions/from-agent/{agent.id}/")
    ]
    assert creates[0].headers["Idempotency-Key"].startswith("amas-ray-session-")
    assert len(amas_emulator.session_ids) == 1


async def test_per_row_config_and_agent_columns(make_stage: Make, amas_emulator: Emulator) -> None:
    agent = amas_emulator.register_agent(CONFIG)
    text = CONFIG_TEXT
    rows = [
        {"id": 1, "content": "a", "inputs": INPUTS, "config": text, "agent_key": None},
        {"id": 2, "content": "b", "inputs": INPUTS, "config": None, "agent_key": agent.agent_key},
    ]
    records = (await make_stage(config=None)(pa.Table.from_pylist(rows))).to_pylist()
    assert [r["status"] for r in records] == ["ok", "ok"]
    agents = {amas_emulator.session_state(r["session_id"]).agent_id for r in records}
    assert agents == {None, agent.id}


async def test_parts_from_arrow_structs_lose_their_null_fields(
    make_stage: Make, amas_emulator: Emulator
) -> None:
    # An Arrow list<struct> column gives every part every field: absent ones are null.
    parts = [
        {"type": "text", "text": "What is shown?", "image_url": None},
        {"type": "image_url", "text": None, "image_url": {"url": "https://example.com/a.png"}},
    ]
    rows = [{"id": 1, "content": parts, "inputs": INPUTS}]
    records = (await make_stage()(pa.Table.from_pylist(rows))).to_pylist()
    assert records[0]["status"] == "ok", records[0]["error"]
    sent = execute_requests(amas_emulator)[0].json()["content"]
    assert sent == [
        {"type": "text", "text": "What is shown?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]


# ---------------------------------------------------------------- keys: exactly once


async def test_a_rerun_of_a_batch_sends_the_same_keys_and_runs_no_turn(
    make_stage: Make, amas_emulator: Emulator
) -> None:
    rows = [
        {"id": i, "content": f"m{i}", "inputs": INPUTS, "session": f"s{i % 2}"} for i in range(6)
    ]
    first = (await make_stage()(pa.Table.from_pylist(rows))).to_pylist()
    keys = [r.headers["Idempotency-Key"] for r in amas_emulator.requests if r.method == "POST"]
    # a new actor (Ray restarted it, or retried the task elsewhere) runs the same batch
    again = (await make_stage()(pa.Table.from_pylist(rows))).to_pylist()
    keys_again = [r.headers["Idempotency-Key"] for r in amas_emulator.requests[len(keys) :]]
    assert keys_again == keys
    assert [r["text"] for r in again] == [r["text"] for r in first]
    assert [r["session_id"] for r in again] == [r["session_id"] for r in first]
    assert amas_emulator.executed_turns == 6
    assert len(amas_emulator.session_ids) == 2


async def test_another_run_id_is_another_run(make_stage: Make, amas_emulator: Emulator) -> None:
    rows = [{"id": 1, "content": "m", "inputs": INPUTS}]
    await make_stage(run_id="monday")(pa.Table.from_pylist(rows))
    await make_stage(run_id="tuesday")(pa.Table.from_pylist(rows))
    assert amas_emulator.executed_turns == 2
    assert len(amas_emulator.session_ids) == 2


async def test_a_changed_row_gets_a_new_key(make_stage: Make, amas_emulator: Emulator) -> None:
    rows = [{"id": 1, "content": "m", "inputs": INPUTS, "session": "s"}]
    await make_stage()(pa.Table.from_pylist(rows))
    rows[0]["content"] = "m, edited"
    await make_stage()(pa.Table.from_pylist(rows))
    executes = execute_requests(amas_emulator)
    assert executes[0].headers["Idempotency-Key"] != executes[1].headers["Idempotency-Key"]
    assert amas_emulator.executed_turns == 2


async def test_answers_lost_after_the_turn_are_replayed_not_rerun(
    make_stage: Make, amas_emulator: Emulator
) -> None:
    # The turn runs, the answer is lost; the SDK's safe default does not retry that, so the
    # row fails; the re-run (Ray's, or the user's) sends the same key and gets the answer.
    amas_emulator.fail_next(2, path="/execute/", drop="after")
    rows = [{"id": i, "content": f"m{i}", "inputs": INPUTS} for i in range(4)]
    first = (await make_stage(max_retries=0)(pa.Table.from_pylist(rows))).to_pylist()
    assert [r["status"] for r in first].count("error") == 2
    failed = [r for r in first if r["status"] == "error"]
    assert {r["error_type"] for r in failed} == {"APIConnectionError"}
    assert amas_emulator.executed_turns == 4
    again = (await make_stage(max_retries=0)(pa.Table.from_pylist(rows))).to_pylist()
    assert [r["status"] for r in again] == ["ok"] * 4
    assert amas_emulator.executed_turns == 4  # 0 duplicated turns


# ---------------------------------------------------------------- errors


async def test_a_failed_row_is_a_typed_error_row(make_stage: Make, amas_emulator: Emulator) -> None:
    amas_emulator.fail_next(1, path="/execute/", status=400)
    rows = [
        {"id": 1, "content": "bad", "inputs": INPUTS, "session": "s"},
        {"id": 2, "content": "good", "inputs": INPUTS, "session": "t"},
    ]
    records = (await make_stage()(pa.Table.from_pylist(rows))).to_pylist()
    bad, good = records
    assert bad["status"] == "error"
    assert bad["error_type"] == "BadRequestError"
    assert bad["error_status_code"] == 400
    assert "400" in bad["error"]
    assert bad["text"] is None
    assert bad["input_tokens"] is None
    assert good["status"] == "ok"


async def test_rows_that_cannot_run_are_error_rows_and_nothing_is_sent(
    make_stage: Make, amas_emulator: Emulator
) -> None:
    rows: list[dict[str, Any]] = [
        {"id": None, "content": "no id", "inputs": INPUTS},
        {"id": "", "content": "empty id", "inputs": INPUTS},
        {"id": 3, "content": 42, "inputs": INPUTS},
    ]
    records = (await make_stage()(numpy_batch(rows)))["error_type"].tolist()
    assert records == ["InvalidRowError", "InvalidRowError", "InvalidContentError"]
    assert execute_requests(amas_emulator) == []


async def test_no_session_source_is_an_error_row(make_stage: Make, amas_emulator: Emulator) -> None:
    out = await make_stage(config=None)(pa.Table.from_pylist([{"id": 1, "content": "x"}]))
    record = out.to_pylist()[0]
    assert record["error_type"] == "InvalidRowError"
    assert "session_id column" in record["error"]
    assert amas_emulator.requests == []


async def test_unknown_agent_key_is_an_error_row(make_stage: Make) -> None:
    stage = make_stage(config=None, agent_key="nobody")
    record = (await stage(pa.Table.from_pylist([{"id": 1, "content": "x"}]))).to_pylist()[0]
    assert record["error_type"] == "InvalidRowError"
    assert "'nobody'" in record["error"]


async def test_raise_on_error_fails_the_batch(make_stage: Make, amas_emulator: Emulator) -> None:
    amas_emulator.fail_next(1, path="/execute/", status=422)
    rows = [{"id": "x", "content": "m", "inputs": INPUTS}]
    with pytest.raises(RowFailedError, match="row 'x' failed: UnprocessableEntityError") as info:
        await make_stage(raise_on_error=True)(pa.Table.from_pylist(rows))
    assert info.value.row_id == "x"
    assert info.value.record["error_status_code"] == 422


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"content": ["x"]}, "needs a 'id' column"),
        ({"id": [1]}, "needs a 'content' column"),
        (
            {"id": [1], "content": ["x"], "status": ["new"]},
            r"already has output columns \['status'\]",
        ),
    ],
)
async def test_batches_without_the_needed_columns_fail_before_sending(
    make_stage: Make, amas_emulator: Emulator, columns: dict[str, list[Any]], message: str
) -> None:
    with pytest.raises(amas.InvalidRequestError, match=message):
        await make_stage()(pa.table(columns))
    assert amas_emulator.requests == []


async def test_client_options_reach_the_client(make_stage: Make, amas_emulator: Emulator) -> None:
    # max_retries given through client_options is not undone by the stage's own default
    amas_emulator.fail_next(1, path="/execute/", status=503)
    stage = make_stage(client_options={"max_retries": 0})
    rows = [{"id": 1, "content": "m", "inputs": INPUTS}]
    record = (await stage(pa.Table.from_pylist(rows))).to_pylist()[0]
    assert record["error_type"] == "InternalServerError"
    assert record["attempts"] == 1
    amas_emulator.fail_next(1, path="/execute/", status=503)
    retried = (await make_stage(run_id="again")(pa.Table.from_pylist(rows))).to_pylist()[0]
    assert retried["status"] == "ok"
    assert retried["attempts"] == 2


def test_bad_arguments_fail_at_construction(tmp_path: Any) -> None:
    with pytest.raises(amas.InvalidRequestError, match="at most one of config"):
        AmasExecute(config=CONFIG, agent_key="a", api_key="k", run_id="r")
    with pytest.raises(amas.InvalidRequestError, match="concurrency must be an int >= 1"):
        AmasExecute(config=CONFIG, concurrency=0, api_key="k")
    with pytest.raises(amas.InvalidRequestError, match="rate_limit must be a finite number"):
        AmasExecute(config=CONFIG, rate_limit=0, api_key="k")
    with pytest.raises(amas.InvalidRequestError, match="run_id must be a non-empty str"):
        AmasExecute(config=CONFIG, run_id="", api_key="k")
    with pytest.raises(amas.InvalidRequestError, match="cannot set throttle"):
        AmasExecute(config=CONFIG, api_key="k", client_options={"throttle": None})
    with pytest.raises(amas.InputFileNotFoundError):
        AmasExecute(config=str(tmp_path / "missing.yaml"), api_key="k")
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents: [\n", encoding="utf-8")
    with pytest.raises(amas.ConfigValidationError, match=r"bad\.yaml"):
        AmasExecute(config=str(bad), api_key="k")
    with pytest.raises(amas.AmasError, match="AMAS_API_KEY"):
        AmasExecute(config=CONFIG)


async def test_without_ray_a_run_id_is_needed(amas_emulator: Emulator) -> None:
    stage = AmasExecute(
        base_url=amas_emulator.base_url, api_key=amas_emulator.api_key, config=CONFIG
    )
    try:
        with pytest.raises(amas.InvalidRequestError, match="give run_id="):
            await stage(pa.Table.from_pylist([{"id": 1, "content": "x"}]))
    finally:
        await stage.aclose()


def test_the_key_is_in_no_repr() -> None:
    stage = AmasExecute(config=CONFIG, api_key="sk-secret-123", run_id="r")
    assert "sk-secret-123" not in repr(stage)
    assert "AmasExecute(" in repr(stage)


def test_declared_columns() -> None:
    assert INPUT_COLUMNS[:2] == ("id", "content")
    assert "error_type" in OUTPUT_COLUMNS
    assert "text" in OUTPUT_COLUMNS


# ---------------------------------------------------------------- the rate ledger


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_ledger_grants_chunks_and_never_more_than_the_rate() -> None:
    clock = FakeClock()
    ledger = RateLedger(100, clock=clock)  # chunks of 10 (a tenth of a second)
    assert ledger.chunk == 10
    assert ledger.lease() == (10, 0.0)  # the bucket starts with one chunk
    granted, wait = ledger.lease()
    assert granted == 0
    assert wait == pytest.approx(0.1)  # until a whole chunk is there
    clock.now += 0.05
    granted, wait = ledger.lease()  # half a chunk is not granted
    assert granted == 0
    assert wait == pytest.approx(0.05)
    total = 10
    for _ in range(1000):  # 10 s of leases every 10 ms
        clock.now += 0.01
        granted, _ = ledger.lease()
        assert granted in (0, 10)  # whole chunks only
        total += granted
    assert 990 <= total <= 10 + 100 * 10.05  # one chunk plus rate x time, at most
    assert ledger.stats()["granted"] == total
    assert ledger.stats()["leases"] == total / 10


def test_ledger_keeps_two_chunks_for_late_askers() -> None:
    clock = FakeClock()
    ledger = RateLedger(100, clock=clock)
    ledger.lease()
    clock.now += 5.0  # nobody asked for a while: the bucket holds two chunks, not more
    assert [ledger.lease()[0] for _ in range(3)] == [10, 10, 0]


def test_ledger_halves_on_429_at_most_once_a_second_and_recovers() -> None:
    clock = FakeClock()
    ledger = RateLedger(100, clock=clock)
    ledger.throttled(None)
    assert ledger.rate == 50
    assert ledger.chunk == 5  # leases shrink with the rate
    ledger.throttled(None)  # the same burst of 429s
    assert ledger.rate == 50
    clock.now += 1.0  # a quiet second gives back a tenth of the rate, then a 429 halves it
    ledger.throttled(None)
    assert ledger.rate == (50 + 10) / 2
    assert ledger.stats()["throttles"] == 3
    clock.now += 60.0
    ledger.lease()
    assert ledger.rate == 100  # back to the configured rate, never above


def test_ledger_never_goes_below_its_floor() -> None:
    clock = FakeClock()
    ledger = RateLedger(100, min_rate=40, clock=clock)
    for _ in range(5):
        ledger.throttled(None)
        clock.now += 1.0
    assert ledger.rate == 40
    assert RateLedger(100).min_rate == 100 / 16


def test_ledger_pauses_every_lease_for_retry_after() -> None:
    clock = FakeClock()
    ledger = RateLedger(100, clock=clock)
    ledger.throttled(2.0)
    assert ledger.lease() == (0, 2.0)
    clock.now += 2.0
    assert ledger.lease()[0] > 0


def test_ledger_checks_its_arguments() -> None:
    with pytest.raises(amas.InvalidRequestError, match="rate must be"):
        RateLedger(0)
    with pytest.raises(amas.InvalidRequestError, match="lease_seconds must be"):
        RateLedger(10, lease_seconds=-1)
    assert RateLedger(0.5).chunk == 1  # a slow rate still leases whole tokens


def test_cluster_rate_limit_pickles_by_name() -> None:
    import pickle

    limit = ClusterRateLimit(25, name="acct-1")
    copy = pickle.loads(pickle.dumps(limit))
    assert (copy.rate, copy.name) == (25.0, "acct-1")
    assert repr(copy) == "ClusterRateLimit(rate=25.0, name='acct-1')"
    with pytest.raises(amas.InvalidRequestError, match="name must be"):
        ClusterRateLimit(1, name="")
    with pytest.raises(amas.InvalidRequestError, match="max_concurrency must be"):
        limit.throttle(0)


def test_the_groups_stage_runs_synchronously_on_a_loop_of_its_own(
    threaded_emulator: Emulator,
) -> None:
    emu = threaded_emulator
    stage = AmasExecuteGroups(
        base_url=emu.base_url, api_key=emu.api_key, config=CONFIG, run_id="groups"
    )
    try:
        assert "AmasExecuteGroups(" in repr(stage)
        assert emu.api_key not in repr(stage)
        rows = [{"id": i, "content": f"g{i}", "inputs": INPUTS, "session": "one"} for i in range(3)]
        out = stage(pa.Table.from_pylist(rows)).to_pylist()
    finally:
        stage.close()
    stage.close()  # idempotent
    assert [r["status"] for r in out] == ["ok"] * 3
    (session_id,) = {r["session_id"] for r in out}
    assert [m.content for m in emu.session_state(session_id).history if m.role == "user"] == [
        "g0",
        "g1",
        "g2",
    ]

"""``AmasExecute`` as a Ray Data stage on a local Ray cluster, against the emulator.

One cluster for the module (Ray takes seconds to start). It declares 4 logical CPUs and the
stage's actors ask for half a CPU each: on 2 cores, two 1-CPU actors plus the dataset's read
task would wait on each other for ever. The emulator runs in a thread of this process, on
127.0.0.1, where the actors (other processes) reach it; it counts the turns it runs, so
"0 duplicated turns" is the server's own count.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
import ray.data
from helpers import wait_until_sync
from ray.data import ActorPoolStrategy

import amas_async as amas
from amas_async.ray import AmasExecute, AmasExecuteGroups, ClusterRateLimit
from amas_async.testing import Emulator

CONFIG = "examples/support_agent.yaml"
INPUTS = {"user_name": "Ada", "tone": "calm"}
# Retries that are quick and that also cover answers lost after the turn ran: safe here
# because every row carries a stable Idempotency-Key and the emulator honours keys.
FAST_RETRIES = amas.RetryPolicy(
    max_attempts=10, initial_backoff=0.001, max_backoff=0.01, retry_non_idempotent=True
)

pytestmark = [
    pytest.mark.timeout(300),
    # Ray Data 2.60 warns about its own defaults while making its DataContext
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as env:
        for name in ("AMAS_API_KEY", "AMAS_BASE_URL"):  # the workers get what the stage is given
            env.delenv(name, raising=False)
        yield from _cluster()


def _cluster() -> Iterator[None]:
    ray.init(
        num_cpus=4,
        include_dashboard=False,
        configure_logging=False,
        log_to_driver=False,
        namespace="amas-async-tests",
    )
    # The subclasses below live in this test module, which the workers cannot import.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # type: ignore[no-untyped-call]
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def module_emulator() -> Iterator[Emulator]:
    with Emulator(processing_seconds=0).run_in_thread() as emulator:
        yield emulator


@pytest.fixture
def emu(cluster: None, module_emulator: Emulator) -> Emulator:
    module_emulator.reset_faults()
    module_emulator.requests = []
    module_emulator.executed_turns = 0
    return module_emulator


def stage_kwargs(emu: Emulator, **extra: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "base_url": emu.base_url,
        "api_key": emu.api_key,
        "config": CONFIG,
        "concurrency": 8,
        "retry": FAST_RETRIES,
    }
    kwargs.update(extra)
    return kwargs


def user_turns(emu: Emulator, session_id: str) -> list[Any]:
    return [m.content for m in emu.session_state(session_id).history if m.role == "user"]


def run_stage(
    rows: list[dict[str, Any]],
    kwargs: dict[str, Any],
    *,
    actors: int = 2,
    batch_size: int = 100,
    stage: type[AmasExecute] = AmasExecute,
) -> list[dict[str, Any]]:
    blocks = max(1, len(rows) // batch_size)
    ds = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
        stage,
        fn_constructor_kwargs=kwargs,
        compute=ActorPoolStrategy(size=actors),
        batch_size=batch_size,
        batch_format="pyarrow",
        num_cpus=0.5,
    )
    return ds.take_all()


def conversation_rows(prefix: str, count: int, *, turns: int = 10) -> list[dict[str, Any]]:
    """Rows in conversations of ``turns`` consecutive rows (within one batch), then singles.

    The ids carry ``prefix``: the stage's keys are scoped to the Ray job (this module's), so
    the same rows in another test would be answered from the first test's turns.
    """
    rows: list[dict[str, Any]] = []
    for i in range(count):
        row: dict[str, Any] = {"id": f"{prefix}{i}", "content": f"message {i}", "inputs": INPUTS}
        row["session"] = f"{prefix}c{i // turns}" if i < count * 2 // 3 else None
        rows.append(row)
    return rows


def test_a_thousand_rows_with_faults_are_each_answered_once(emu: Emulator) -> None:
    rows = conversation_rows("faults-", 1200)
    before = len(emu.session_ids)
    emu.set_fault_rate(0.05, seed=15, statuses=[500, 502, 503, "drop", "reset", "drop_after"])
    out = run_stage(rows, stage_kwargs(emu))
    sent = sum(1 for r in emu.requests if r.path.startswith("/api/v1"))
    faults = sent - 1200 - (len(emu.session_ids) - before)  # beyond one per turn and session
    emu.reset_faults()

    assert sorted(r["id"] for r in out) == sorted(r["id"] for r in rows)  # each row once
    assert Counter(r["status"] for r in out) == {"ok": 1200}, [r for r in out if r["error"]][:3]
    assert faults > 50  # the faults happened, and were retried
    assert max(r["attempts"] for r in out) > 1
    assert emu.executed_turns == 1200  # 0 duplicated turns, by the server's count
    by_conversation: dict[str, set[str]] = {}
    for record in out:
        assert record["text"].endswith("| " + record["content"])
        if record["session"] is not None:
            by_conversation.setdefault(record["session"], set()).add(record["session_id"])
    assert len(by_conversation) == 80
    assert all(len(ids) == 1 for ids in by_conversation.values())  # one session each
    singles = {r["session_id"] for r in out if r["session"] is None}
    assert len(singles) == 400
    assert len(emu.session_ids) - before == 480  # no session made twice either
    for key, (session_id,) in by_conversation.items():
        expected = [r["content"] for r in rows if r["session"] == key]
        assert user_turns(emu, session_id) == expected  # in order


@ray.remote(num_cpus=0)
class Registry:
    """Where the stage's actors announce themselves, so that the test can kill one."""

    def __init__(self) -> None:
        self.actors: list[Any] = []

    def add(self, handle: Any) -> None:
        self.actors.append(handle)

    def all(self) -> list[Any]:
        return self.actors


class AnnouncedExecute(AmasExecute):
    """The stage, announcing its actor's handle on its first batch."""

    announced = False

    async def __call__(self, batch: Any) -> Any:
        if not self.announced:
            self.announced = True
            registry = ray.get_actor("stage-registry")
            await registry.add.remote(ray.get_runtime_context().current_actor)
        return await super().__call__(batch)


def test_killing_an_actor_mid_run_duplicates_no_turn(emu: Emulator) -> None:
    registry = Registry.options(name="stage-registry").remote()  # type: ignore[attr-defined]
    rows = conversation_rows("kill-", 1000)
    before = len(emu.session_ids)
    emu.set_turn_delay(0.003)  # long enough a run to kill an actor in the middle of it
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["rows"] = run_stage(rows, stage_kwargs(emu), stage=AnnouncedExecute)
        except BaseException as exc:  # pragma: no cover - reported below
            outcome["error"] = exc

    runner = threading.Thread(target=run)
    runner.start()
    try:
        wait_until_sync(lambda: emu.executed_turns >= 300 or not runner.is_alive(), timeout=120)
        assert runner.is_alive(), (emu.executed_turns, outcome)
        actors = ray.get(registry.all.remote())
        assert actors
        assert emu.executed_turns < 1000  # still running
        ray.kill(actors[0], no_restart=False)  # a crash: Ray restarts it and re-runs its batches
    finally:
        runner.join(timeout=240)
        ray.kill(registry)
    emu.reset_faults()
    assert "error" not in outcome, outcome.get("error")
    out = outcome["rows"]
    assert sorted(r["id"] for r in out) == sorted(r["id"] for r in rows)
    assert Counter(r["status"] for r in out) == {"ok": 1000}
    assert emu.executed_turns == 1000  # the re-run batches were replayed, not run again
    replayed = [r for r in emu.requests if r.path.endswith("/execute/")]
    assert len(replayed) > 1000  # the killed actor's rows were sent again
    conversations = {r["session"] for r in rows if r["session"] is not None}
    singles = [r for r in rows if r["session"] is None]
    assert len(emu.session_ids) - before == len(conversations) + len(singles)


def test_the_shared_rate_limit_holds_across_actors(emu: Emulator) -> None:
    rate, count = 50.0, 150
    # each row makes its session and runs its turn: 300 requests, all under the one limit
    rows = [{"id": f"rate-{i}", "content": f"m{i}", "inputs": INPUTS} for i in range(count)]
    kwargs = stage_kwargs(emu, rate_limit=rate, concurrency=8)
    out = run_stage(rows, kwargs, actors=3, batch_size=50)
    assert Counter(r["status"] for r in out) == {"ok": count}
    times = sorted(r.received_at for r in emu.requests if r.path.startswith("/api/v1/"))
    assert len(times) == 2 * count
    overall = (len(times) - 1) / (times[-1] - times[0])
    assert overall <= 1.1 * rate, overall
    # in every 2-second window, the documented bound: rate x T plus a chunk (a tenth of a
    # second's worth) per actor and two for the ledger's bucket
    busiest = max(sum(1 for t in times[i:] if t < start + 2.0) for i, start in enumerate(times))
    assert busiest <= rate * 2.0 + (3 + 2) * rate / 10, busiest
    # and the limit is used, not only respected: the rate while requests flow. A pause longer
    # than a quarter second is not the limiter's (its longest wait is one chunk, a tenth of a
    # second) but Ray Data's, between one batch and the next actor's start.
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    flowing = [gap for gap in gaps if gap <= 0.25]
    assert len(flowing) >= 0.9 * len(gaps)
    sending = len(flowing) / sum(flowing)
    assert 0.9 * rate <= sending <= 1.1 * rate, sending


def test_429s_seen_by_any_actor_lower_the_rate_for_all(emu: Emulator) -> None:
    limit = ClusterRateLimit(80, name="rate-for-429s").start()  # owned by the driver
    emu.set_rate_limit(30, burst=5)
    rows = [{"id": f"429-{i}", "content": f"m{i}", "inputs": INPUTS} for i in range(60)]
    out = run_stage(rows, stage_kwargs(emu, rate_limit=limit), actors=2, batch_size=15)
    emu.reset_faults()
    assert Counter(r["status"] for r in out) == {"ok": 60}
    stats = limit.stats()
    assert stats["throttles"] > 0
    assert stats["rate"] < 80  # lowered for every actor that leases from it
    assert stats["granted"] >= 120  # a session and an execute per row, 429s retried
    assert sum(1 for r in emu.requests if r.path.startswith("/api/v1")) <= stats["granted"]


def test_conversations_anywhere_in_the_input_via_groupby(emu: Emulator) -> None:
    rows: list[dict[str, Any]] = [
        {"id": f"group-{i}", "content": f"m{i}", "inputs": INPUTS, "session": f"g{i % 20}"}
        for i in range(200)
    ]
    random.Random(3).shuffle(rows)
    ds = ray.data.from_items(rows, override_num_blocks=4).groupby("session")
    out = ds.map_groups(
        AmasExecuteGroups,
        fn_constructor_kwargs=stage_kwargs(emu),
        compute=ActorPoolStrategy(size=2),
        batch_format="pyarrow",
        num_cpus=0.5,
    ).take_all()
    assert Counter(r["status"] for r in out) == {"ok": 200}
    assert emu.executed_turns == 200
    by_conversation: dict[str, set[str]] = {}
    for record in out:
        by_conversation.setdefault(record["session"], set()).add(record["session_id"])
    assert len(by_conversation) == 20
    assert all(len(ids) == 1 for ids in by_conversation.values())
    for key, (session_id,) in by_conversation.items():
        assert sorted(user_turns(emu, session_id)) == sorted(
            r["content"] for r in rows if r["session"] == key
        )


def test_a_missing_key_fails_the_stage_at_once(emu: Emulator) -> None:
    kwargs = stage_kwargs(emu)
    del kwargs["api_key"]
    with pytest.raises(Exception, match="AMAS_API_KEY"):
        run_stage([{"id": "nokey", "content": "x", "inputs": INPUTS}], kwargs, actors=1)
    assert emu.requests == []


def test_the_example_pipeline_runs_the_prompts_file(
    emu: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from examples import ray_pipeline

    monkeypatch.setenv("AMAS_BASE_URL", emu.base_url)
    monkeypatch.setenv("AMAS_API_KEY", emu.api_key)
    prompts = Path("examples/prompts.jsonl")
    status = ray_pipeline.main([str(prompts), str(tmp_path / "out"), "--rps", "50"])
    assert status == 0
    lines = [
        json.loads(line)
        for part in (tmp_path / "out").glob("*.json")
        for line in part.read_text(encoding="utf-8").splitlines()
    ]
    given = [json.loads(line) for line in prompts.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["id"] for r in lines) == sorted(r["id"] for r in given)
    assert {r["status"] for r in lines} == {"ok"}
    assert emu.executed_turns == len(given)
    assert f"{len(given)} rows, 0 failed" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"amas_async\.rate_limit"):
        ray.get_actor("amas_async.rate_limit")  # the example stopped its limit's actor


def test_clients_of_your_own_share_the_limit_through_its_throttle(emu: Emulator) -> None:
    rate = 40.0
    limit = ClusterRateLimit(rate, name="own-clients").start()

    async def main() -> None:
        options: dict[str, Any] = {"base_url": emu.base_url, "api_key": emu.api_key}
        async with (
            amas.AsyncAmas(**options, throttle=limit.throttle(8)) as one,
            amas.AsyncAmas(**options, throttle=limit.throttle(8)) as two,
        ):
            await asyncio.gather(
                *(client.sessions.create(CONFIG) for client in (one, two) for _ in range(40))
            )

    try:
        asyncio.run(main())
        stats = limit.stats()
    finally:
        limit.stop()
    times = sorted(r.received_at for r in emu.requests)
    assert len(times) == 80
    chunk = rate / 10
    assert len(times) <= rate * (times[-1] - times[0]) + (2 + 2) * chunk  # the bound
    assert 80 <= stats["granted"] <= 80 + 2 * 2 * chunk  # what was sent, and leased ahead
    assert stats["leases"] == stats["granted"] / chunk  # whole chunks: a call per 4 requests


def test_a_dead_ledger_is_replaced_at_the_next_lease(emu: Emulator) -> None:
    import pickle

    owner = ClusterRateLimit(1000, name="replaced").start()
    user = pickle.loads(pickle.dumps(owner))  # what an actor gets: the name, no handle
    assert asyncio.run(user.lease())[0] > 0
    owner.stop()  # the ledger dies (its creator did)
    granted, _ = asyncio.run(user.lease())  # a new ledger, found or made by name
    assert granted > 0
    assert user.stats()["leases"] == 1  # it is a fresh one
    user.stop()

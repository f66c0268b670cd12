"""The sync shim ``amas_async.Amas``: parity with the async surface, and behaviour against the
emulator (a real server in its own thread) or a ``MockTransport``, including threads sharing the
loop that one of them drives, running loops, Ctrl-C and forgotten clients.
"""

from __future__ import annotations

import asyncio
import collections.abc
import concurrent.futures
import contextlib
import functools
import gc
import inspect
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import typing
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from helpers import wait_until_sync

import amas_async as amas
from amas_async import batch as batch_module
from amas_async import sync
from amas_async.cli.demo import tiny_png
from amas_async.resources import (
    AsyncAgents,
    AsyncCollections,
    AsyncFiles,
    AsyncImages,
    AsyncKnowledgeBases,
    AsyncRuntime,
    AsyncSessions,
)
from amas_async.resources import Session as AsyncSession
from amas_async.resources import runtime as runtime_module
from amas_async.resources import sessions as sessions_module
from amas_async.testing import Emulator, MockTransport, instant_retries

ROOT = Path(__file__).resolve().parents[1]
FLAT = {"name": "Flat", "agent_type": "llm_agent", "system_prompt": "Be brief."}
#: The helper thread that runs the loop when no caller can (see amas_async.sync).
LOOP_THREAD = "amas-sync-loop"
KEY = "test-key"
BASE = "https://amas.test/api/v1"

# ---- parity: every public async member has a sync twin with the same parameters -------------

PAIRS: list[tuple[type, type]] = [
    (amas.AsyncAmas, sync.Amas),
    (AsyncSessions, sync.Sessions),
    (AsyncRuntime, sync.Runtime),
    (AsyncImages, sync.Images),
    (AsyncAgents, sync.Agents),
    (AsyncFiles, sync.Files),
    (AsyncCollections, sync.Collections),
    (AsyncKnowledgeBases, sync.KnowledgeBases),
    (AsyncSession, sync.Session),
]
#: Async names whose sync twin is spelled differently.
RENAMED = {"aclose": "close", "__aenter__": "__enter__", "__aexit__": "__exit__"}
#: Dunders that are part of the surface: the context manager. (``AsyncAmas.__init__`` is too,
#: but not the resources' and the Session handle's: the client makes those, not users.)
DUNDERS = ("__aenter__", "__aexit__")


def _fresh(flag: bool) -> bool:
    """A flag read again after something changed it (mypy would keep the earlier narrowing)."""
    return flag


def public_names(cls: type) -> set[str]:
    """Public names defined by ``cls`` and its bases (methods, properties, slots)."""
    names: set[str] = set()
    for klass in cls.__mro__[:-1]:  # not object
        names.update(name for name in vars(klass) if not name.startswith("_"))
    return names


def normalise(annotation: Any) -> Any:
    """An async return annotation spelled as its sync twin's (both modules use strings)."""
    if not isinstance(annotation, str):
        return annotation
    annotation = re.sub(r"\bAsyncAmas\b", "Amas", annotation)
    # an async generator (closable with aclosing) is a plain iterator on the sync side
    annotation = re.sub(r"^AsyncGenerator\[(.*), None\]$", r"Iterator[\1]", annotation)
    return re.sub(r"\bAsync(Iterator|Iterable)\b", r"\1", annotation)


#: Where annotation names are looked up when a module only imports them for type checking.
FALLBACK_NAMESPACE: dict[str, Any] = {}
for _module in (typing, collections.abc, amas, runtime_module, sessions_module, batch_module):
    FALLBACK_NAMESPACE.update(vars(_module))


def resolved(func: Callable[..., Any], annotation: Any) -> Any:
    """The object a string annotation names (so an alias equals what it stands for)."""
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, {**FALLBACK_NAMESPACE, **func.__globals__})
    except Exception:  # pragma: no cover - compare the spelling then
        return annotation


def parameters(func: Callable[..., Any]) -> list[tuple[str, Any, Any, Any]]:
    return [
        (p.name, p.kind, p.default, resolved(func, p.annotation))
        for p in inspect.signature(func).parameters.values()
    ]


def returns(func: Callable[..., Any]) -> Any:
    return normalise(inspect.signature(func).return_annotation)


def is_async(func: Any) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS, ids=lambda c: c.__name__)
def test_every_async_member_has_a_sync_twin(async_cls: type, sync_cls: type) -> None:
    names = public_names(async_cls) | {n for n in DUNDERS if hasattr(async_cls, n)}
    if async_cls is amas.AsyncAmas:
        names.add("__init__")
    assert names, async_cls
    for name in sorted(names):
        member = inspect.getattr_static(async_cls, name)
        twin_name = RENAMED.get(name, name)
        assert hasattr(sync_cls, twin_name), f"{sync_cls.__name__}.{twin_name} is missing"
        twin = inspect.getattr_static(sync_cls, twin_name)
        where = f"{sync_cls.__name__}.{twin_name}"
        if isinstance(member, property):
            assert isinstance(twin, property), f"{where} must be a property"
            assert member.fget is not None
            assert twin.fget is not None
            assert returns(twin.fget) == returns(member.fget), where
        elif inspect.ismemberdescriptor(member):  # a public slot of the async Session
            assert isinstance(twin, property), f"{where} must be a property"
        elif inspect.isfunction(member):
            assert inspect.isfunction(twin), f"{where} must be a plain method"
            assert not is_async(twin), f"{where} must not be async"
            assert parameters(twin) == parameters(member), where
            if name not in RENAMED and name != "__init__":
                assert returns(twin) == returns(member), where
        else:  # pragma: no cover - a new kind of member: teach this test about it
            pytest.fail(f"{async_cls.__name__}.{name}: unexpected {type(member).__name__}")


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS, ids=lambda c: c.__name__)
def test_the_sync_surface_adds_nothing(async_cls: type, sync_cls: type) -> None:
    expected = {RENAMED.get(n, n) for n in public_names(async_cls)}
    assert public_names(sync_cls) <= expected


def test_instance_attributes_are_twinned() -> None:
    async_client = amas.AsyncAmas(api_key="k")
    sync_client = sync.Amas(api_key="k")
    public = {n: v for n, v in vars(async_client).items() if not n.startswith("_")}
    resources = {"sessions", "runtime", "images", "agents", "files", "collections"}
    assert resources | {"knowledge_bases"} <= set(public)
    for name, value in public.items():  # a new resource must get a twin, and a place in PAIRS
        twin = getattr(sync_client, name, None)
        assert twin is not None, f"Amas.{name} is missing"
        assert (type(value), type(twin)) in PAIRS, name
    assert sorted(n for n in vars(sync_client) if not n.startswith("_")) == sorted(public)
    sync_client.close()


# ---- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def client(threaded_emulator: Emulator) -> Iterator[amas.Amas]:
    with amas.Amas(
        base_url=threaded_emulator.base_url, api_key=threaded_emulator.api_key
    ) as opened:
        yield opened


def loop_threads() -> int:
    return sum(t.name == LOOP_THREAD for t in threading.enumerate())


def requests_to(threaded_emulator: Emulator, method: str, part: str) -> int:
    return sum(r.method == method and part in r.path for r in threaded_emulator.requests)


# ---- behaviour ------------------------------------------------------------------------------


def test_every_call_works(threaded_emulator: Emulator, client: amas.Amas) -> None:
    session = client.sessions.create(FLAT)
    assert isinstance(session, sync.Session)
    assert session.config_hash
    assert session.config_hash.startswith("object:")
    assert session.raw["session_id"] == session.id

    result = session.execute("Hi", correlation_id="c-1")
    assert isinstance(result, amas.Execution)
    assert result.text == "[Flat] Be brief. | Hi"
    assert result.correlation_id == "c-1"
    again = client.runtime.execute(session.id, "Again", idempotency_key="k-1")
    assert again.text == "[Flat] Be brief. | Again"
    assert threaded_emulator.executed_turns == 2

    page = session.messages(limit=3)
    assert isinstance(page, amas.MessagePage)
    assert (len(page.messages), page.total, page.has_more) == (3, 4, True)
    tail = client.runtime.messages(session.id, 10, 3)  # positional limit, offset
    assert tail.messages == session.messages(1, 3).messages
    assert [m.text for m in session.iter_messages(page_size=3)][::2] == ["Hi", "Again"]
    assert len(list(client.runtime.iter_messages(session.id, page_size=1, offset=1))) == 3

    status = session.status()
    assert isinstance(status, amas.SessionStatus)
    assert (status.session_id, status.message_count) == (session.id, 4)
    assert client.runtime.status(session.id).message_count == 4

    fresh = session.refresh()
    assert isinstance(fresh, sync.Session)
    assert fresh.state == "active"
    assert fresh.agent_config == FLAT
    assert fresh.created_at is not None
    got = client.sessions.get(session.id)
    assert got == fresh == session == client.session(session.id)
    assert hash(got) == hash(session)
    assert repr(got) == f"Session(id={session.id!r}, config_hash={session.config_hash!r})"

    agent = threaded_emulator.register_agent(FLAT, agent_key="flat")
    by_key = client.sessions.from_agent("flat")
    by_id = client.sessions.from_agent(agent_id=agent.id)
    assert by_key.agent_id == by_id.agent_id == agent.id
    assert by_key.agent_name == "Flat"
    assert by_key.agent_key is None  # the tutorial's answer names no key

    upload = client.images.upload(tiny_png(), filename="dot.png")
    assert isinstance(upload, amas.ImageUpload)
    assert upload.media_type == "image/png"
    assert upload.url.endswith("dot.png")

    assert client.base_url == threaded_emulator.base_url
    assert client.retry_policy == amas.RetryPolicy()
    assert client.timeout == amas.Timeout()
    assert not client.is_closed
    assert repr(client) == f"Amas(base_url={threaded_emulator.base_url!r}, open)"


def test_errors_are_the_async_classes(threaded_emulator: Emulator, client: amas.Amas) -> None:
    with pytest.raises(amas.NotFoundError) as not_found:
        client.sessions.get("no-such-session")
    assert not_found.value.status_code == 404
    session = client.sessions.create(FLAT)
    with pytest.raises(amas.BadRequestError):
        session.messages(limit=1000)  # the emulator's limit is 100
    threaded_emulator.fail_execution_next()
    with pytest.raises(amas.ExecutionError):
        session.execute("Hi")

    threaded_emulator.requests.clear()
    with pytest.raises(amas.ConfigValidationError):
        client.sessions.create({"name": "bad", "agents": "not a list"})
    with pytest.raises(amas.InvalidRequestError):
        client.sessions.from_agent("key", agent_id="id")
    with pytest.raises(amas.InvalidRequestError):
        client.session("a/b")
    with pytest.raises(amas.InvalidRequestError):
        next(session.iter_messages(page_size=0))
    assert threaded_emulator.requests == []

    with (
        amas.Amas(base_url=threaded_emulator.base_url, api_key="wrong") as bad_key,
        pytest.raises(amas.AuthenticationError),
    ):
        bad_key.sessions.create(FLAT)
    with pytest.raises(amas.AmasError, match="API key"):
        amas.Amas(base_url=threaded_emulator.base_url)  # no key anywhere: fails at construction


def test_retries_work_on_the_background_loop(
    threaded_emulator: Emulator, client: amas.Amas
) -> None:
    session = client.sessions.create(FLAT)
    threaded_emulator.fail_next(2, status=503, path="/status/")
    with instant_retries() as retry_clock:
        assert session.status().session_id == session.id
    assert len(retry_clock.sleeps) == 2
    assert requests_to(threaded_emulator, "GET", "/status/") == 3

    threaded_emulator.fail_next(1, status=503, path="/execute/")
    with instant_retries():
        assert session.execute("Hi").text
    assert threaded_emulator.executed_turns == 1


def test_sixteen_threads_share_one_client(threaded_emulator: Emulator, client: amas.Amas) -> None:
    threaded_emulator.set_turn_delay(0.05)
    barrier = threading.Barrier(16)
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            barrier.wait()
            session = client.sessions.create(FLAT)
            results[index] = [session.execute(f"m{index}-{turn}").text for turn in range(2)]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == {i: [f"[Flat] Be brief. | m{i}-{t}" for t in range(2)] for i in range(16)}
    assert threaded_emulator.executed_turns == 32
    assert len(threaded_emulator.session_ids) == 16
    assert threaded_emulator.peak_in_flight > 1  # the calls really ran concurrently on the one loop
    assert loop_threads() <= 1  # at most one helper thread, however many callers
    client.close()
    assert loop_threads() == 0


def sync_helper(client: amas.Amas) -> str:
    """Plain synchronous code, as a library or a notebook cell would call it."""
    return client.sessions.create(FLAT).execute("from a loop").text


async def test_blocks_the_caller_inside_a_running_loop(threaded_emulator: Emulator) -> None:
    asyncio.get_running_loop()  # a loop runs in this thread
    with amas.Amas(
        base_url=threaded_emulator.base_url, api_key=threaded_emulator.api_key
    ) as client:
        assert sync_helper(client) == "[Flat] Be brief. | from a loop"
        session = client.sessions.create(FLAT)
        assert session.status().session_id == session.id
        assert list(session.iter_messages()) == []
    assert client.is_closed


def test_close_is_idempotent_and_use_after_close_is_clear(threaded_emulator: Emulator) -> None:
    before = loop_threads()
    client = amas.Amas(base_url=threaded_emulator.base_url, api_key=threaded_emulator.api_key)
    assert repr(client).endswith(", new)")
    session = client.sessions.create(FLAT)
    iterator = client.runtime.iter_messages(session.id)
    assert repr(client).endswith(", open)")
    assert loop_threads() == before  # a script's calls start no thread: it runs the loop itself
    client.close()
    client.close()
    assert client.is_closed
    assert repr(client).endswith(", closed)")
    assert loop_threads() == before
    for call in (
        lambda: client.sessions.create(FLAT),
        session.status,
        lambda: client.session(session.id).execute("Hi"),
        lambda: next(iterator),
        lambda: client.with_options(max_retries=0).runtime.status(session.id),
    ):
        with pytest.raises(amas.AmasError, match="client is closed"):
            call()

    never_used = amas.Amas(base_url=threaded_emulator.base_url, api_key=threaded_emulator.api_key)
    never_used.close()  # no loop was started; nothing to stop
    with pytest.raises(amas.AmasError, match="client is closed"):
        never_used.sessions.create(FLAT)
    assert loop_threads() == before


def test_closing_while_another_thread_waits_ends_its_call(threaded_emulator: Emulator) -> None:
    client = amas.Amas(base_url=threaded_emulator.base_url, api_key=threaded_emulator.api_key)
    session = client.sessions.create(FLAT)
    threaded_emulator.set_turn_delay(5.0)
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            session.execute("slow")
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.monotonic() + 4.0
    while (
        not threaded_emulator.session_state(session.id).active_executes
        and time.monotonic() < deadline
    ):
        time.sleep(0.005)
    started = time.monotonic()
    client.close()
    worker.join(4.0)
    assert not worker.is_alive()
    assert time.monotonic() - started < 2.0
    assert len(outcome) == 1
    assert isinstance(outcome[0], amas.AmasError)


def test_a_client_collected_on_its_helper_thread_still_closes() -> None:
    # White-box: no public call makes the helper thread collect its own client (a call keeps
    # its client alive), but a GC pass may run there at any allocation, even while the helper
    # holds the client's lock; closing must then not wait for the thread it runs on.
    transport = MockTransport(status_answer)
    client = amas.Amas(api_key=KEY, base_url=BASE, transport=transport)
    runner = client._runner
    ran_on: list[str] = []

    async def collect() -> None:
        ran_on.append(threading.current_thread().name)
        gc.collect()  # the forgotten client's finalizer runs here, on its helper thread

    async def inside_a_loop() -> None:
        with contextlib.suppress(amas.AmasError):  # the closing may cancel it
            runner.call(collect)  # called from a running loop: the helper thread runs it

    gc.disable()  # so that no other thread collects it first
    try:
        del client
        asyncio.run(inside_a_loop())
    finally:
        gc.enable()
    assert ran_on == [LOOP_THREAD]
    wait_until_sync(lambda: transport.closed and loop_threads() == 0, what="closed")
    assert runner.closed


def test_a_client_collected_on_another_clients_loop_closes() -> None:
    dropped_transport = MockTransport(status_answer)
    dropped = amas.Amas(api_key=KEY, base_url=BASE, transport=dropped_transport)
    assert dropped.runtime.status("s1").session_id == "s1"

    async def collect(request: amas.Request, handler: amas.Handler) -> amas.Response:
        gc.collect()  # the forgotten client is closed here, inside this client's running loop
        return await handler(request)

    transport = MockTransport(status_answer)
    with amas.Amas(
        api_key=KEY, base_url=BASE, transport=transport, middlewares=[collect]
    ) as client:
        gc.disable()  # so that only the middleware collects it
        try:
            del dropped
            assert client.runtime.status("s2").session_id == "s2"
        finally:
            gc.enable()
        assert dropped_transport.closed
        assert not transport.closed
        assert client.runtime.status("s3").session_id == "s3"
    assert _fresh(transport.closed)  # closing the client changed it
    assert loop_threads() == 0


def test_closing_from_a_middleware_on_the_clients_own_loop() -> None:
    holder: list[amas.Amas] = []

    async def closing(request: amas.Request, handler: amas.Handler) -> amas.Response:
        holder[0].close()  # on the client's loop: must not wait for that loop
        return await handler(request)

    transport = MockTransport(status_answer)
    client = amas.Amas(api_key=KEY, base_url=BASE, transport=transport, middlewares=[closing])
    holder.append(client)
    # The call that closed the client ends (its answer was ready), and the closing is
    # complete when it returns.
    assert client.runtime.status("s1").session_id == "s1"
    assert client.is_closed
    assert transport.closed
    assert loop_threads() == 0
    with pytest.raises(amas.AmasError, match="client is closed"):
        client.runtime.status("s1")


def test_with_options_shares_the_loop(threaded_emulator: Emulator, client: amas.Amas) -> None:
    session = client.sessions.create(FLAT)
    threads = loop_threads()
    no_retry = client.with_options(max_retries=0, timeout=5)
    assert isinstance(no_retry, amas.Amas)
    assert no_retry.retry_policy.max_attempts == 1
    assert no_retry.timeout == amas.Timeout.of(5)
    assert no_retry.base_url == client.base_url
    assert client.retry_policy == amas.RetryPolicy()
    assert no_retry.with_options(retry=amas.RetryPolicy(max_attempts=4)).retry_policy == (
        amas.RetryPolicy(max_attempts=4)
    )

    threaded_emulator.fail_next(1, status=503, path="/status/")
    with pytest.raises(amas.InternalServerError):
        no_retry.session(session.id).status()
    threaded_emulator.fail_next(1, status=503, path="/status/")
    with instant_retries():
        assert client.runtime.status(session.id).session_id == session.id
    assert no_retry.runtime.execute(session.id, "Hi").text
    assert loop_threads() == threads  # no new loop for the derived client

    no_retry.close()  # retires the derived client only
    no_retry.close()
    assert no_retry.is_closed
    assert not client.is_closed
    with pytest.raises(amas.AmasError, match="client is closed"):
        no_retry.runtime.status(session.id)
    assert client.runtime.status(session.id).session_id == session.id
    assert loop_threads() == threads

    other = client.with_options(max_retries=1)
    client.close()
    assert other.is_closed
    with pytest.raises(amas.AmasError, match="client is closed"):
        other.runtime.status(session.id)


def test_a_derived_client_keeps_the_pool_open(threaded_emulator: Emulator) -> None:
    derived = amas.Amas(
        base_url=threaded_emulator.base_url, api_key=threaded_emulator.api_key
    ).with_options(max_retries=0)
    transport = cast(amas.AiohttpTransport, derived.transport)
    gc.collect()  # the original is unreachable, but the derived client still needs its pool
    assert derived.sessions.create(FLAT).execute("Hi").text
    assert transport.is_open
    del derived
    gc.collect()  # now the pool goes: the forgotten client is closed by its finalizer
    assert not _fresh(transport.is_open)  # the finalizer changed it
    assert repr(transport) == "AiohttpTransport(closed)"
    assert loop_threads() == 0


def test_iter_messages_fetches_pages_lazily(threaded_emulator: Emulator, client: amas.Amas) -> None:
    session = client.sessions.create(FLAT)
    for turn in range(3):
        session.execute(f"turn {turn}")  # 2 messages each: 6 in all
    threaded_emulator.requests.clear()

    iterator = session.iter_messages(page_size=2)
    assert isinstance(iterator, Iterator)
    assert requests_to(threaded_emulator, "GET", "/messages/") == 0
    assert next(iterator).text == "turn 0"
    assert requests_to(threaded_emulator, "GET", "/messages/") == 1
    next(iterator)
    assert requests_to(threaded_emulator, "GET", "/messages/") == 1
    assert next(iterator).text == "turn 1"
    assert requests_to(threaded_emulator, "GET", "/messages/") == 2
    assert len(list(iterator)) == 3
    assert requests_to(threaded_emulator, "GET", "/messages/") == 3
    assert [r.query["offset"] for r in threaded_emulator.requests] == ["0", "2", "4"]

    threaded_emulator.requests.clear()
    everything = list(client.runtime.iter_messages(session.id, page_size=4, offset=1))
    assert len(everything) == 5
    assert [r.query["offset"] for r in threaded_emulator.requests] == ["1", "5"]


def test_breaking_out_closes_the_async_generator(
    threaded_emulator: Emulator, client: amas.Amas, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[str] = []
    original = AsyncRuntime.iter_messages

    async def watched(self: AsyncRuntime, *args: Any, **kwargs: Any) -> AsyncIterator[amas.Message]:
        try:
            async for message in original(self, *args, **kwargs):
                yield message
        finally:
            closed.append(threading.current_thread().name)

    monkeypatch.setattr(AsyncRuntime, "iter_messages", watched)
    session = client.sessions.create(FLAT)
    for turn in range(3):
        session.execute(f"turn {turn}")
    threaded_emulator.requests.clear()

    here = threading.current_thread().name
    for message in session.iter_messages(page_size=2):
        assert message.text == "turn 0"
        break
    # closed on the loop (which this thread runs), synchronously, as soon as the loop was
    # left; no more pages asked
    assert closed == [here]
    assert requests_to(threaded_emulator, "GET", "/messages/") == 1

    messages = client.runtime.iter_messages(session.id, page_size=2)
    iterator = cast(Generator[amas.Message, None, None], messages)
    next(iterator)
    iterator.close()  # it is a generator: close() ends it, and the async one, at once
    assert closed == [here, here]
    assert requests_to(threaded_emulator, "GET", "/messages/") == 2
    with pytest.raises(StopIteration):
        next(iterator)


def test_a_sync_call_on_the_clients_own_loop_is_refused(threaded_emulator: Emulator) -> None:
    holder: list[amas.Amas] = []

    async def reentrant(request: amas.Request, handler: amas.Handler) -> amas.Response:
        if request.method == "GET":
            holder[0].sessions.get("x")  # blocking the loop on itself would deadlock
        return await handler(request)

    with amas.Amas(
        base_url=threaded_emulator.base_url,
        api_key=threaded_emulator.api_key,
        middlewares=[reentrant],
    ) as client:
        holder.append(client)
        session = client.sessions.create(FLAT)
        with pytest.raises(amas.AmasError, match="own event loop"):
            session.status()
        assert session.execute("still usable").text


def test_ctrl_c_cancels_the_request_and_the_client_stays_usable(
    threaded_emulator: Emulator,
) -> None:
    if threading.current_thread() is not threading.main_thread():  # pragma: no cover
        pytest.skip("signals are delivered to the main thread only")
    cancelled: list[str] = []

    async def watch(request: amas.Request, handler: amas.Handler) -> amas.Response:
        try:
            return await handler(request)
        except asyncio.CancelledError:
            cancelled.append(request.url)
            raise

    with amas.Amas(
        base_url=threaded_emulator.base_url, api_key=threaded_emulator.api_key, middlewares=[watch]
    ) as client:
        session = client.sessions.create(FLAT)
        threaded_emulator.set_turn_delay(5.0)  # the execute hangs in the emulator until interrupted

        def press_ctrl_c() -> None:
            deadline = time.monotonic() + 4.0
            while time.monotonic() < deadline:
                if threaded_emulator.session_state(
                    session.id
                ).active_executes:  # the request is in flight
                    press_ctrl_c_until(lambda: bool(cancelled))
                    return
                time.sleep(0.005)

        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        presser = threading.Thread(target=press_ctrl_c)
        try:
            presser.start()
            started = time.monotonic()
            with pytest.raises(KeyboardInterrupt):
                session.execute("slow")
            elapsed = time.monotonic() - started
        finally:
            presser.join()
            signal.signal(signal.SIGINT, previous)

        assert elapsed < 2.0
        # the request's task was cancelled on the loop before KeyboardInterrupt reached us
        assert cancelled == [f"{threaded_emulator.base_url}/runtime/{session.id}/execute/"]
        threaded_emulator.set_turn_delay(0)
        other = client.sessions.create(FLAT)
        assert other.execute("after").text == "[Flat] Be brief. | after"
        assert client.runtime.status(session.id).session_id == session.id
        assert not client.is_closed


def press_ctrl_c_until(done: Callable[[], bool]) -> None:
    """Send SIGINT to the main thread, again every 0.1 s until ``done()``.

    (As under asyncio.Runner, a signal that lands just before the loop blocks in ``select``
    runs its handler only when the loop next wakes up: the next press wakes it.)
    """
    for _ in range(40):
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        deadline = time.monotonic() + 0.1
        while time.monotonic() < deadline:
            if done():
                return
            time.sleep(0.005)


FORGOTTEN = """
    import gc
    import threading

    import amas_async as amas
    from amas_async.testing import Emulator

    FLAT = {"name": "Flat", "agent_type": "llm_agent", "system_prompt": "Be brief."}

    def threads():
        return sorted(t.name for t in threading.enumerate() if t.name.startswith("amas-sync"))

    with Emulator().run_in_thread() as threaded_emulator:
        kept = amas.Amas(base_url=threaded_emulator.base_url, api_key=threaded_emulator.api_key)
        session = kept.sessions.create(FLAT)
        session.execute("hi")
        kept_messages = session.iter_messages(page_size=1)
        next(kept_messages)  # left suspended, on the loop, until exit
        dropped = amas.Amas(base_url=threaded_emulator.base_url, api_key=threaded_emulator.api_key)
        pool = dropped.transport
        other = dropped.sessions.create(FLAT)
        other.execute("hi")
        dropped_messages = other.iter_messages(page_size=1)
        next(dropped_messages)
        assert pool.is_open
        del dropped, other, dropped_messages
        gc.collect()  # a forgotten, unreachable client: its finalizer closes it
        assert not pool.is_open
        kept.sessions.create(FLAT).execute("still here")
        assert threads() == [], threads()
    print("done")
    # exits with `kept` never closed and its iterator suspended
"""


def test_a_forgotten_client_exits_silently() -> None:
    completed = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", textwrap.dedent(FORGOTTEN)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.stderr == ""
    assert completed.returncode == 0
    assert completed.stdout == "done\n"


# ---- batches --------------------------------------------------------------------------------


def test_execute_many_returns_a_list_in_input_order(
    threaded_emulator: Emulator, client: amas.Amas
) -> None:
    first, second = client.sessions.create(FLAT), client.sessions.create(FLAT)
    requests: list[Any] = [
        amas.ExecuteRequest(session_id=first.id, content="a"),
        {"session_id": second.id, "content": "b"},
        amas.ExecuteRequest(session_id=first.id, content="c"),
        {"session_id": second.id},  # invalid: no content
    ]
    results = client.runtime.execute_many(requests, concurrency=2)
    assert isinstance(results, list)
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert [r.execution.text if r.execution else None for r in results] == [
        "[Flat] Be brief. | a",
        "[Flat] Be brief. | b",
        "[Flat] Be brief. | c",
        None,
    ]
    assert isinstance(results[3].error, amas.InvalidRequestError)
    assert threaded_emulator.executed_turns == 3


def test_batch_input_and_callback_run_off_the_loop(
    threaded_emulator: Emulator, client: amas.Amas
) -> None:
    threads: set[str] = set()
    seen: list[int] = []

    def requests() -> Iterator[amas.ExecuteRequest]:
        for turn in range(3):
            threads.add(threading.current_thread().name)
            # a sync call from inside the input: impossible on the loop thread itself
            session = client.sessions.create(FLAT)
            yield amas.ExecuteRequest(session_id=session.id, content=f"t{turn}")

    def on_result(result: amas.BatchResult) -> None:
        threads.add(threading.current_thread().name)
        assert result.execution is not None
        assert client.runtime.status(result.request.session_id).message_count == 2
        seen.append(result.index)

    results = client.runtime.execute_many(requests(), on_result=on_result)
    assert [r.ok for r in results] == [True, True, True]
    assert sorted(seen) == [0, 1, 2]
    assert threads
    assert LOOP_THREAD not in threads
    assert threading.current_thread().name not in threads
    assert threaded_emulator.executed_turns == 3


def test_iter_execute_many_is_lazy_and_breaking_out_cancels(threaded_emulator: Emulator) -> None:
    cancelled: list[str] = []

    async def watch(request: amas.Request, handler: amas.Handler) -> amas.Response:
        try:
            return await handler(request)
        except asyncio.CancelledError:
            cancelled.append(request.url)
            raise

    with amas.Amas(
        base_url=threaded_emulator.base_url, api_key=threaded_emulator.api_key, middlewares=[watch]
    ) as client:
        fast, slow, slower = (client.sessions.create(FLAT) for _ in range(3))
        for session in (slow, slower):  # these two hang in the emulator
            threaded_emulator.fail_next(
                1, status=500, path=f"/runtime/{session.id}/execute/", delay=5.0
            )
        pulled: list[str] = []

        def requests() -> Iterator[dict[str, str]]:
            for session in (slow, slower, fast):
                pulled.append(session.id)
                yield {"session_id": session.id, "content": "hi"}

        results = client.runtime.iter_execute_many(requests(), concurrency=4)
        assert isinstance(results, Iterator)
        assert pulled == []  # nothing runs before the first step
        del results
        started = time.monotonic()
        for result in client.runtime.iter_execute_many(requests(), concurrency=4):
            assert result.request.session_id == fast.id
            assert result.ok
            break
        assert time.monotonic() - started < 2.0
        assert pulled == [slow.id, slower.id, fast.id]
        # the two requests still in flight were cancelled when the loop was left
        assert sorted(cancelled) == sorted(
            f"{threaded_emulator.base_url}/runtime/{s.id}/execute/" for s in (slow, slower)
        )
        assert threaded_emulator.executed_turns == 1
        assert fast.execute("after").text == "[Flat] Be brief. | after"


# ---- who runs the loop: the calling thread, another caller, the helper thread ---------------


def status_answer(request: amas.Request) -> amas.Response:
    """``GET /runtime/{id}/status/``, answered with the session id it names."""
    session_id = request.url.rstrip("/").split("/")[-2]
    return amas.Response(200, json={"session_id": session_id, "message_count": 0})


class Gated:
    """A transport whose answer for a session waits until the test opens that session's gate.

    It records, per session id, the thread where the request arrived and the one where its
    answer was made (the loop's driver at each moment).
    """

    def __init__(self, *gated: str) -> None:
        self.gates: dict[str, concurrent.futures.Future[None]] = {
            session_id: concurrent.futures.Future() for session_id in gated
        }
        self.arrived: dict[str, threading.Event] = {s: threading.Event() for s in gated}
        self.started_on: dict[str, str] = {}
        self.answered_on: dict[str, str] = {}
        self.cancelled: list[str] = []
        self.transport = MockTransport(self.answer)

    async def answer(self, request: amas.Request) -> amas.Response:
        session_id = request.url.rstrip("/").split("/")[-2]
        self.started_on[session_id] = threading.current_thread().name
        gate = self.gates.get(session_id)
        if gate is not None:
            self.arrived[session_id].set()
            try:
                await asyncio.wrap_future(gate)
            except asyncio.CancelledError:
                self.cancelled.append(session_id)
                raise
        self.answered_on[session_id] = threading.current_thread().name
        return status_answer(request)

    def open(self, session_id: str) -> None:
        self.gates[session_id].set_result(None)

    def wait_for(self, session_id: str) -> None:
        assert self.arrived[session_id].wait(5.0), f"{session_id} never arrived"


class Caller(threading.Thread):
    """A thread making one call and keeping its outcome."""

    def __init__(self, call: Callable[[], Any], name: str) -> None:
        super().__init__(name=name)
        self.call = call
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.call()
        except BaseException as exc:  # the test looks at it
            self.error = exc

    def outcome(self) -> Any:
        self.join(5.0)
        assert not self.is_alive()
        if self.error is not None:  # pragma: no cover
            raise self.error
        return self.result


def test_a_script_runs_its_calls_in_its_own_thread() -> None:
    gated = Gated()
    with amas.Amas(api_key=KEY, base_url=BASE, transport=gated.transport) as client:
        assert client.runtime.status("s1").session_id == "s1"
        assert client.with_options(max_retries=0).runtime.status("s2").session_id == "s2"
        here = threading.current_thread().name
        assert gated.answered_on == {"s1": here, "s2": here}
        assert loop_threads() == 0


def test_a_call_from_another_thread_runs_on_the_loop_a_caller_drives() -> None:
    gated = Gated("slow")
    with amas.Amas(api_key=KEY, base_url=BASE, transport=gated.transport) as client:
        first = Caller(lambda: client.runtime.status("slow"), name="first")
        first.start()
        gated.wait_for("slow")  # the first thread now runs the loop, waiting for its answer
        # this thread's call is handed to that loop, and answered while "slow" still waits
        assert client.runtime.status("quick").session_id == "quick"
        assert gated.answered_on["quick"] == "first"
        assert first.is_alive()
        gated.open("slow")
        assert first.outcome().session_id == "slow"
        assert gated.answered_on["slow"] == "first"
        assert loop_threads() == 0  # no helper was needed


def test_the_helper_thread_takes_over_when_the_driver_is_done_first() -> None:
    gated = Gated("a", "b")
    with amas.Amas(api_key=KEY, base_url=BASE, transport=gated.transport) as client:
        first = Caller(lambda: client.runtime.status("a"), name="first")
        first.start()
        gated.wait_for("a")
        second = Caller(lambda: client.runtime.status("b"), name="second")
        second.start()
        gated.wait_for("b")
        assert gated.started_on == {"a": "first", "b": "first"}
        gated.open("a")
        assert first.outcome().session_id == "a"  # returns while "b" is still in flight
        assert second.is_alive()
        gated.open("b")
        assert second.outcome().session_id == "b"
        assert gated.answered_on == {"a": "first", "b": LOOP_THREAD}
        # the helper let go once nothing was left: the next call runs in its caller's thread
        assert client.runtime.status("c").session_id == "c"
        assert gated.answered_on["c"] == threading.current_thread().name
        assert loop_threads() == 1
    assert loop_threads() == 0  # closing ends the helper thread


def test_many_threads_and_running_loops_lose_no_call() -> None:
    async def answer(request: amas.Request) -> amas.Response:
        await asyncio.sleep(0)  # let the calls interleave on the loop
        return status_answer(request)

    transport = MockTransport(answer)
    threads, calls = 8, 60
    barrier = threading.Barrier(threads)
    got: dict[int, list[str | None]] = {}

    with amas.Amas(api_key=KEY, base_url=BASE, transport=transport) as client:

        def plain(index: int) -> list[str | None]:
            barrier.wait()
            return [client.runtime.status(f"t{index}-{k}").session_id for k in range(calls)]

        async def inside_a_loop(index: int) -> list[str | None]:
            return plain(index)  # blocking calls from a coroutine (as in a notebook)

        def work(index: int) -> None:
            if index % 2:
                got[index] = asyncio.run(inside_a_loop(index))
            else:
                got[index] = plain(index)

        workers = [Caller(functools.partial(work, i), name=f"w{i}") for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60.0)
        assert not any(worker.is_alive() for worker in workers)
        assert [worker.error for worker in workers] == [None] * threads
        assert got == {i: [f"t{i}-{k}" for k in range(calls)] for i in range(threads)}
        assert len(transport.requests) == threads * calls
        assert client.runtime.status("after").session_id == "after"
        assert loop_threads() <= 1
    assert loop_threads() == 0


def test_ctrl_c_while_another_thread_runs_the_loop() -> None:
    if threading.current_thread() is not threading.main_thread():  # pragma: no cover
        pytest.skip("signals are delivered to the main thread only")
    gated = Gated("a", "b")
    with amas.Amas(api_key=KEY, base_url=BASE, transport=gated.transport) as client:
        first = Caller(lambda: client.runtime.status("a"), name="first")
        first.start()
        gated.wait_for("a")  # the first thread runs the loop; this one will wait on it

        def press_ctrl_c() -> None:
            gated.wait_for("b")
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        presser = threading.Thread(target=press_ctrl_c)
        try:
            presser.start()
            with pytest.raises(KeyboardInterrupt):
                client.runtime.status("b")
        finally:
            presser.join()
            signal.signal(signal.SIGINT, previous)
        assert signal.getsignal(signal.SIGINT) is previous
        # the request was cancelled on the loop before KeyboardInterrupt reached this thread
        assert gated.cancelled == ["b"]
        assert first.is_alive()  # the other thread's call goes on
        gated.open("a")
        assert first.outcome().session_id == "a"
        assert client.runtime.status("c").session_id == "c"
        assert not client.is_closed


def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    # Between calls nothing runs the loop. A server that drops an idle keep-alive connection
    # must not make the next POST fail: the loop sees the close before the call sends.
    body = (ROOT / "tests/data/examples/execute-text.response.json").read_bytes()
    may_close = threading.Event()
    closed = threading.Event()
    connections: list[int] = []

    def respond(conn: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        length = next(
            (
                int(v)
                for k, _, v in (line.partition(b":") for line in head.split(b"\r\n"))
                if k.strip().lower() == b"content-length"
            ),
            0,
        )
        while len(rest) < length:
            rest += conn.recv(65536)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        return True

    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with server:
            for number in range(2):
                conn, _ = server.accept()
                connections.append(number)
                with conn:
                    while respond(conn):
                        if number == 0:  # keep-alive, then dropped while the client idles
                            may_close.wait(5.0)
                            break
                if number == 0:
                    closed.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{server.getsockname()[1]}/api/v1"
    with amas.Amas(base_url=base_url, api_key=KEY, max_retries=0) as client:
        assert client.runtime.execute("s1", "first").text
        may_close.set()
        assert closed.wait(5.0)
        assert client.runtime.execute("s1", "second").text  # on a new connection
    assert connections == [0, 1]
    thread.join(5.0)


@pytest.mark.parametrize("raises", [True, False], ids=["raising", "quiet"])
def test_ctrl_c_under_the_programs_own_sigint_handler(raises: bool) -> None:
    if threading.current_thread() is not threading.main_thread():  # pragma: no cover
        pytest.skip("signals are delivered to the main thread only")
    gated = Gated("a")
    handled = threading.Event()

    class Stop(Exception):
        pass

    def own_handler(signum: int, frame: Any) -> None:
        handled.set()
        if raises:
            raise Stop

    def press_ctrl_c() -> None:
        gated.wait_for("a")
        press_ctrl_c_until(handled.is_set)
        if not raises:
            gated.open("a")  # a handler that only takes note leaves the call alone

    with amas.Amas(api_key=KEY, base_url=BASE, transport=gated.transport) as client:
        previous = signal.signal(signal.SIGINT, own_handler)
        presser = threading.Thread(target=press_ctrl_c)
        try:
            presser.start()
            if raises:
                # what the handler raised comes out once the request is cancelled
                with pytest.raises(Stop):
                    client.runtime.status("a")
            else:
                assert client.runtime.status("a").session_id == "a"
            assert signal.getsignal(signal.SIGINT) is own_handler
        finally:
            presser.join()
            signal.signal(signal.SIGINT, previous)
        assert handled.is_set()
        assert gated.cancelled == (["a"] if raises else [])
        assert client.runtime.status("b").session_id == "b"


def test_closing_ends_calls_the_helper_thread_runs() -> None:
    gated = Gated("a")
    client = amas.Amas(api_key=KEY, base_url=BASE, transport=gated.transport)

    async def inside_a_loop() -> Any:
        return client.runtime.status("a")  # the helper thread runs it

    caller = Caller(lambda: asyncio.run(inside_a_loop()), name="in-a-loop")
    caller.start()
    gated.wait_for("a")
    assert gated.started_on == {"a": LOOP_THREAD}
    client.close()  # cancels it, closes the pool, ends the helper thread
    caller.join(5.0)
    assert not caller.is_alive()
    assert isinstance(caller.error, amas.AmasError)
    assert "client is closed" in str(caller.error)
    assert gated.cancelled == ["a"]
    assert gated.transport.closed
    assert loop_threads() == 0

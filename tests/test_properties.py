"""Property-based tests (hypothesis): hostile answers and hostile configs never crash the SDK.

Answers. Every public call that reads a 2xx JSON answer is answered, through a
``MockTransport``, with (a) arbitrary JSON and (b) mutations of the call's documented answer
(``tests/data/examples``: a subtree replaced by arbitrary JSON, keys deleted, values turned
into another type). The call returns its documented model or raises
:class:`amas.ResponseValidationError` (plus :class:`amas.ExecutionError` for an execute whose
run ended ``error``/``timeout``, :class:`amas.ProcessingError` / :class:`amas.WaitTimeoutError`
for a wait); any other exception is a bug. A model that comes back is read whole (every field,
every property, its repr), since timestamps convert on first read.

Configs. Any mapping given as a session config gives a :class:`amas.SessionConfig` or a
:class:`amas.ConfigValidationError`, through ``SessionConfig.from_dict`` / ``validate``,
``SessionConfig.from_yaml`` and the calls that take a config (``sessions.create``,
``agents.create``); a config read back from its own ``to_dict()`` is equal to it.

Deterministic (``derandomize=True``, no example database); every property counts the examples
it ran and asserts a floor, and the counts are printed at the end of the module (``-v`` or
``-s`` shows them). For a deeper search by hand, ``AMAS_PROPERTY_SCALE=25`` runs 25 times as
many examples and ``AMAS_PROPERTY_SEED=<int>`` searches at random from that seed. The plain
regression tests below the properties pin each bug the properties (or such searches) found.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import amas_async as amas
from amas_async.testing import MockTransport

decode: Callable[[bytes], Any]  # what the SDK decodes answers with
try:
    import orjson

    decode = orjson.loads
except ImportError:  # pragma: no cover - the SDK uses the standard library then
    decode = json.loads

EXAMPLES = Path(__file__).resolve().parent / "data" / "examples"
BASE = "https://amas.test/api/v1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def _keys_of(value: object, out: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            out.add(key)
            _keys_of(item, out)
    elif isinstance(value, list):
        for item in value:
            _keys_of(item, out)


def _vocabulary() -> list[str]:
    """Every key of every documented example, and the fields of the models and configs."""
    found: set[str] = set()
    for path in EXAMPLES.glob("*.json"):
        _keys_of(json.loads(path.read_text(encoding="utf-8")), found)
    for cls in (amas.SessionConfig, amas.AgentConfig, amas.Edge, amas.KnowledgeBase):
        found.update(f.name for f in attrs.fields(cls))
    found.update({"from", "to", "results", "next", "count", "detail", "error", "errors"})
    return sorted(found)


VOCABULARY = _vocabulary()

# ---- strategies ---------------------------------------------------------------------------------

#: Integers at and past the 64-bit edges (orjson reads those past 64 bits as floats).
EDGE_INTS = st.sampled_from(
    [0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30]
)
#: Text the readers treat specially: words, numbers and timestamps, good and bad.
EDGE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "true",
        "false",
        "yes",
        "null",
        "0",
        "-1",
        "1e999",
        "nan",
        "inf",
        "1704067200",
        "1704067200.5",
        "-62135596800",
        "99999999999999999999",
        "2025-01-15T10:30:00Z",
        "2025-01-15T10:30:00.123456789+02:00",
        "2025-13-45T99:99:99",
        "0000-00-00",
        "completed",
        "error",
        "timeout",
        "active",
        "failed",
        "deleted",
        "__start__",
        "__end__",
        "llm_agent",
        "supervisor",
        "\x00",
        "\u2028",
        "é" * 3,
    ]
)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | EDGE_INTS
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | EDGE_TEXT
)
KEYS = st.sampled_from(VOCABULARY) | st.text(max_size=8)


def json_values(max_leaves: int = 24) -> st.SearchStrategy[Any]:
    """Any JSON value; object keys are mostly the API's own (so the readers go past the top)."""
    return st.recursive(
        LEAVES,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=6)
        ),
        max_leaves=max_leaves,
    )


JSON = json_values()
#: What a mutation puts in place of a subtree: smaller (the rest of the answer stays documented).
SUBTREES = json_values(max_leaves=8)
Path_ = tuple[str | int, ...]


def _paths(value: object, prefix: Path_ = ()) -> list[Path_]:
    """The path of every node of a JSON value, the root first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _at(value: Any, path: Path_) -> Any:
    for step in path:
        value = value[step]
    return value


def _other_types(value: object) -> list[object]:
    """The value turned into other JSON types."""
    text = json.dumps(value)
    return [
        None,
        True,
        False,
        0,
        -1,
        1.5,
        2**64,
        "",
        text,
        text[:1],
        [],
        {},
        [value],
        {"": value},
        {"id": value},
    ]


@st.composite
def mutations(draw: st.DrawFn, documented: object) -> Any:
    """The documented answer with 1 to 4 changes: a subtree replaced, deleted or retyped."""
    value = copy.deepcopy(documented)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(value)
        path = draw(st.sampled_from(paths[1:] if len(paths) > 1 else paths))
        operation = draw(st.sampled_from(("retype", "delete", "replace", "nulls")))
        if operation == "nulls" and isinstance(_at(value, path), dict):
            node = _at(value, path)
            for key in draw(st.lists(st.sampled_from(sorted(node) or [""]), max_size=4)):
                node[key] = None
            continue
        if operation == "delete" and path:
            parent = _at(value, path[:-1])
            del parent[path[-1]]
            continue
        if operation == "retype":
            new = draw(st.sampled_from(_other_types(_at(value, path))))
        else:
            new = draw(SUBTREES)
        if not path:
            value = new
        else:
            _at(value, path[:-1])[path[-1]] = new
    return value


# ---- hypothesis settings and the count of examples run ------------------------------------------

#: Examples per property; the whole module runs in about 15 s on a 2-core box.
#: ``AMAS_PROPERTY_SCALE=20`` runs twenty times as many, for a deeper search by hand.
SCALE = float(os.environ.get("AMAS_PROPERTY_SCALE", "1"))
#: ``AMAS_PROPERTY_SEED=<int>`` searches at random from that seed instead (for a search by hand).
SEED = int(os.environ["AMAS_PROPERTY_SEED"]) if os.environ.get("AMAS_PROPERTY_SEED") else None
ANSWER_EXAMPLES = max(1, round(40 * SCALE))
CONFIG_EXAMPLES = max(1, round(120 * SCALE))
#: Examples run, by property (printed at the end of the module).
RAN: dict[str, int] = {}


def _settings(max_examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The settings of every property: deterministic, unless ``AMAS_PROPERTY_SEED`` is set."""

    def apply(test: Callable[..., None]) -> Callable[..., None]:
        configured = settings(
            max_examples=max_examples,
            derandomize=SEED is None,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            print_blob=False,
        )(test)
        return configured if SEED is None else seed(SEED)(configured)

    return apply


@pytest.fixture(scope="module", autouse=True)
def _report_examples(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.perf_counter()
    yield
    if not RAN:
        return
    families: dict[str, int] = {}
    for name, count in RAN.items():
        family = name.split("[", 1)[0]
        families[family] = families.get(family, 0) + count
    lines = [f"  {name}: {count}" for name, count in sorted(RAN.items())]
    lines += [f"  total {family}: {count}" for family, count in sorted(families.items())]
    lines.append(f"  module time: {time.perf_counter() - started:.1f} s")
    text = "hypothesis examples run per property:\n" + "\n".join(lines)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and request.config.get_verbosity() > 0:
        reporter.write_line("")
        reporter.write_line(text)
    print(text)


def _count(name: str) -> None:
    RAN[name] = RAN.get(name, 0) + 1


def _ran(name: str, examples: int) -> None:
    """The property ran (at least half of) the examples it asked for, not a trivial few."""
    assert RAN.get(name, 0) >= max(1, examples // 2), (name, RAN.get(name, 0), examples)


# ---- the calls ----------------------------------------------------------------------------------

Invoke = Callable[[amas.AsyncAmas], Awaitable[object]]


@dataclass(frozen=True)
class Call:
    """A public call that reads a 2xx JSON answer, and what it may give."""

    name: str
    invoke: Invoke
    returns: type | tuple[type, ...]
    #: Documented answers of the call (file names without ``.json``), or the values themselves.
    documented: tuple[Any, ...]
    #: The path (under the base URL) answered with the generated value; None: every request.
    path: str | None = None
    #: Fixed answers for other paths (the knowledge base a wait reads at its end).
    others: Mapping[str, Any] = field(default_factory=dict)
    #: Answer for the requests after the first (None: the generated value again).
    then: Any = None
    #: Exceptions the call may raise by design besides ResponseValidationError.
    also: tuple[type[BaseException], ...] = ()
    #: The call returns a list of ``returns``.
    many: bool = False


async def _collect(iterator: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in iterator]


FLAT_CONFIG = example("sessions-create-flat.request")
WAITS = (amas.ProcessingError, amas.WaitTimeoutError)
IMAGE_ANSWER = {"url": "https://cdn.example/img/1.png", "media_type": "image/png", "size": 40}


def _envelope(name: str) -> dict[str, Any]:
    items = example(name)
    return {"count": len(items), "next": None, "previous": None, "results": items}


CALLS: tuple[Call, ...] = (
    Call(
        "sessions.create",
        lambda c: c.sessions.create(FLAT_CONFIG),
        amas.Session,
        ("sessions-create-flat.response", "sessions-create-inline-basic.response"),
    ),
    Call(
        "sessions.from_agent(key)",
        lambda c: c.sessions.from_agent("support_agent"),
        amas.Session,
        ("sessions-from-agent-by-key.response",),
    ),
    Call(
        "sessions.from_agent(id)",
        lambda c: c.sessions.from_agent(agent_id="agent_1"),
        amas.Session,
        ("sessions-from-agent-by-id.response",),
    ),
    Call("sessions.get", lambda c: c.sessions.get("s1"), amas.Session, ("sessions-get.response",)),
    Call(
        "runtime.execute",
        lambda c: c.runtime.execute("s1", "Hello"),
        amas.Execution,
        ("execute-text.response", "execute-legacy.response"),
        also=(amas.ExecutionError,),
    ),
    Call(
        "runtime.messages",
        lambda c: c.runtime.messages("s1"),
        amas.MessagePage,
        ("runtime-messages.response",),
    ),
    Call(
        "runtime.iter_messages",
        lambda c: _collect(c.runtime.iter_messages("s1")),
        amas.Message,
        ("runtime-messages.response",),
        then={"messages": [], "has_more": False},
        many=True,
    ),
    Call(
        "runtime.status",
        lambda c: c.runtime.status("s1"),
        amas.SessionStatus,
        ("runtime-status.response",),
    ),
    Call(
        "images.upload",
        lambda c: c.images.upload(PNG, filename="a.png"),
        amas.ImageUpload,
        (IMAGE_ANSWER,),
    ),
    Call(
        "agents.list",
        lambda c: c.agents.list(),
        amas.Agent,
        ("agents-list.response", _envelope("agents-list.response")),
        many=True,
    ),
    Call(
        "agents.iter",
        lambda c: _collect(c.agents.iter()),
        amas.Agent,
        ("agents-list.response",),
        many=True,
    ),
    Call("agents.get", lambda c: c.agents.get("a1"), amas.Agent, ("agents-get.response",)),
    Call(
        "agents.create",
        lambda c: c.agents.create(FLAT_CONFIG),
        amas.Agent,
        ("agents-create.response",),
    ),
    Call(
        "agents.update",
        lambda c: c.agents.update("a1", {"llm_config": {"temperature": 0.8}}),
        amas.Agent,
        ("agents-get.response",),
    ),
    Call(
        "agents.validate",
        lambda c: c.agents.validate(FLAT_CONFIG),
        amas.ConfigValidation,
        ("agent-validate-valid.response", "agent-validate-invalid.response"),
    ),
    Call(
        "files.upload",
        lambda c: c.files.upload(b"%PDF-1.4 manual", filename="manual.pdf", tags=["manual"]),
        amas.File,
        ("files-upload.response",),
    ),
    Call(
        "files.list",
        lambda c: c.files.list(status="active"),
        amas.File,
        ("files-list.response", _envelope("files-list.response")),
        many=True,
    ),
    Call("files.get", lambda c: c.files.get("f1"), amas.File, ("files-get.response",)),
    Call(
        "files.wait",
        lambda c: c.files.wait("f1", timeout=0),
        amas.File,
        ("files-get.response",),
        also=WAITS,
    ),
    Call(
        "collections.list",
        lambda c: c.collections.list(),
        amas.Collection,
        ("collections-list.response", _envelope("collections-list.response")),
        many=True,
    ),
    Call(
        "collections.create",
        lambda c: c.collections.create("Docs", description="d"),
        amas.Collection,
        ("collections-create.response",),
    ),
    Call(
        "collections.get",
        lambda c: c.collections.get("c1"),
        amas.Collection,
        ("collections-get.response",),
    ),
    Call(
        "collections.add_files",
        lambda c: c.collections.add_files("c1", ["f1", "f2"]),
        amas.AddFilesResult,
        ("collections-add-files.response",),
    ),
    Call(
        "knowledge_bases.create",
        lambda c: c.knowledge_bases.create("KB", selected_collections=["c1"]),
        amas.KnowledgeBase,
        ("knowledge-bases-get.response", "knowledge-bases-get-legacy.response"),
    ),
    Call(
        "knowledge_bases.get",
        lambda c: c.knowledge_bases.get("kb_123"),
        amas.KnowledgeBase,
        ("knowledge-bases-get.response", "knowledge-bases-get-legacy.response"),
    ),
    Call(
        "knowledge_bases.update",
        lambda c: c.knowledge_bases.update("kb_123", name="New name"),
        amas.KnowledgeBase,
        ("knowledge-bases-get.response",),
    ),
    Call(
        "knowledge_bases.check_status",
        lambda c: c.knowledge_bases.check_status("kb_123"),
        amas.KnowledgeBaseStatus,
        ("knowledge-bases-check-status.response", "knowledge-bases-status-legacy.response"),
    ),
    Call(
        "knowledge_bases.wait",
        lambda c: c.knowledge_bases.wait("kb_123", timeout=0),
        amas.KnowledgeBase,
        ("knowledge-bases-check-status.response", "knowledge-bases-status-legacy.response"),
        path="/knowledge-bases/kb_123/check_status/",
        others={"/knowledge-bases/kb_123/": example("knowledge-bases-get.response")},
        also=WAITS,
    ),
)


def _documented(call: Call) -> list[Any]:
    return [example(doc) if isinstance(doc, str) else doc for doc in call.documented]


# ---- running a call against an answer -----------------------------------------------------------


class Answers:
    """The mock server of one property: the value under test for the call's path."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.body = b"null"
        self.received: object = None
        self.served = 0

    def set(self, value: object) -> None:
        self.body = json.dumps(value).encode("utf-8")
        self.served = 0
        try:  # what the client decodes: orjson reads integers past 64 bits as floats
            self.received = decode(self.body)
        except ValueError:  # not JSON to the client (1e999, a lone surrogate ...): text
            self.received = self.body.decode("utf-8")

    def handle(self, request: amas.Request) -> amas.Response:
        path = request.url.removeprefix(BASE).split("?", 1)[0]
        if path in self.call.others:
            return amas.Response(200, json=self.call.others[path])
        if self.call.path is not None and path != self.call.path:
            return amas.Response(404, json={"detail": "Not found."})
        self.served += 1
        if self.served > 1 and self.call.then is not None:
            return amas.Response(200, json=self.call.then)
        if self.served > 50:
            raise AssertionError(f"{self.call.name} asked for more than 50 pages")
        return amas.Response(200, content=self.body, headers={"Content-Type": "application/json"})


def touch(value: object, seen: set[int] | None = None) -> None:
    """Read a result whole: every attrs field (lazy timestamps convert), every property, repr."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    repr(value)
    if isinstance(value, (list, tuple)):
        for item in value:
            touch(item, seen)
        return
    cls = type(value)
    if attrs.has(cls):
        for f in attrs.fields(cls):
            touch(getattr(value, f.name), seen)
    elif isinstance(value, amas.Session):
        for name in amas.Session.__slots__:
            if not name.startswith("_"):
                touch(getattr(value, name), seen)
    if cls.__module__.startswith("amas_async"):
        for name, member in inspect.getmembers(cls):
            if isinstance(member, property) and not name.startswith("_"):
                touch(getattr(value, name), seen)


def check_result(call: Call, result: object) -> None:
    if call.many:
        assert isinstance(result, list), f"{call.name} gave {type(result).__name__}"
        for item in result:
            assert isinstance(item, call.returns), f"{call.name} item {type(item).__name__}"
    else:
        assert isinstance(result, call.returns), f"{call.name} gave {type(result).__name__}"
    touch(result)


def check_error(call: Call, error: Exception, received: object) -> None:
    """An exception the call may raise: typed, and carrying what was received.

    Any other exception is re-raised as it is (hypothesis then reports and shrinks it).
    """
    if isinstance(error, amas.ResponseValidationError):
        assert error.message
        str(error)
        if not call.many:  # a list's error may be about a later page or its next link
            assert error.body == received
        return
    if not isinstance(error, call.also):
        raise error
    str(error)
    result = getattr(error, "execution", None) or getattr(error, "result", None)
    if result is not None:
        touch(result)


async def answer_once(client: amas.AsyncAmas, call: Call, received: object) -> None:
    try:
        result = await call.invoke(client)
    except Exception as exc:  # anything but the call's typed errors fails in check_error
        check_error(call, exc, received)
    else:
        check_result(call, result)


class Loop:
    """One event loop and one client for all the examples of a property."""

    def __init__(self, call: Call) -> None:
        self.answers = Answers(call)
        self.loop = asyncio.new_event_loop()
        self.client = amas.AsyncAmas(
            api_key="k",
            base_url=BASE,
            transport=MockTransport(self.answers.handle),
            max_retries=0,
        )

    def run(self, value: object) -> None:
        self.answers.set(value)
        self.loop.run_until_complete(
            answer_once(self.client, self.answers.call, self.answers.received)
        )

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.client.aclose())
        finally:
            self.loop.close()


def run_property(name: str, call: Call, strategy: st.SearchStrategy[Any], examples: int) -> None:
    loop = Loop(call)
    try:

        @_settings(examples)
        @given(strategy)
        def check(value: object) -> None:
            _count(name)
            loop.run(value)

        check()
    finally:
        loop.close()
    _ran(name, examples)


IDS = [call.name for call in CALLS]


@pytest.mark.parametrize("call", CALLS, ids=IDS)
def test_any_json_answer(call: Call) -> None:
    """(a) Arbitrary JSON: a model or ResponseValidationError (or the call's own errors)."""
    run_property(f"any_json_answer[{call.name}]", call, JSON, ANSWER_EXAMPLES)


@pytest.mark.parametrize("call", CALLS, ids=IDS)
def test_mutated_documented_answer(call: Call) -> None:
    """(b) The documented answers, mutated: reaches the field readers and nested models."""
    strategy = st.one_of([mutations(doc) for doc in _documented(call)])
    run_property(f"mutated_answer[{call.name}]", call, strategy, ANSWER_EXAMPLES)


@pytest.mark.parametrize("call", CALLS, ids=IDS)
def test_documented_answer_reads(call: Call) -> None:
    """The documented answers themselves read into the model (the mutations' starting point)."""
    loop = Loop(call)
    try:
        for documented in _documented(call):
            loop.answers.set(documented)
            result = loop.loop.run_until_complete(
                _unless_waiting(call, loop.client, call.invoke(loop.client))
            )
            check_result(call, result)
    finally:
        loop.close()


async def _unless_waiting(call: Call, client: amas.AsyncAmas, pending: Awaitable[object]) -> object:
    """A wait's result, or the result its timeout error carries (a documented status may be
    still running)."""
    try:
        return await pending
    except amas.WaitTimeoutError as exc:
        assert call.also == WAITS
        if call.name == "knowledge_bases.wait":
            return await client.knowledge_bases.get("kb_123")
        result: object = exc.result
        return result


# ---- the validate call answered with a 4xx: its error body is read too -------------------------

VALIDATE_ERRORS = (
    "agent-validate-invalid.response",
    "error-401-unauthorized.response",
    "error-403-forbidden.response",
    {"detail": {"llm_config": {"model": ["Invalid model specified"]}}},
    {"non_field_errors": ["bad"], "agents": [{"name": ["required"]}]},
)


@pytest.mark.parametrize("strategy_name", ["any_json", "mutated"])
def test_validate_400_answer(strategy_name: str) -> None:
    """``agents.validate`` reads a 400's body as a verdict, or re-raises the BadRequestError."""
    name = f"validate_400_answer[{strategy_name}]"
    documented = [example(d) if isinstance(d, str) else d for d in VALIDATE_ERRORS]
    strategy = (
        JSON if strategy_name == "any_json" else st.one_of([mutations(doc) for doc in documented])
    )
    loop = asyncio.new_event_loop()
    body = [b"null"]
    client = amas.AsyncAmas(
        api_key="k",
        base_url=BASE,
        transport=MockTransport(lambda request: amas.Response(400, content=body[0])),
        max_retries=0,
    )

    async def once() -> None:
        try:
            verdict = await client.agents.validate(FLAT_CONFIG)
        except amas.BadRequestError as exc:
            str(exc)
        else:
            assert isinstance(verdict, amas.ConfigValidation)
            touch(verdict)

    try:

        @_settings(ANSWER_EXAMPLES)
        @given(strategy)
        def check(value: object) -> None:
            _count(name)
            body[0] = json.dumps(value).encode()
            loop.run_until_complete(once())

        check()
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
    _ran(name, ANSWER_EXAMPLES)


# ---- execute_many: every result holds an execution or a typed error ----------------------------


@pytest.mark.parametrize("strategy_name", ["any_json", "mutated"])
def test_execute_many_answer(strategy_name: str) -> None:
    name = f"execute_many_answer[{strategy_name}]"
    documented = [example("execute-text.response"), example("execute-legacy.response")]
    strategy = (
        JSON if strategy_name == "any_json" else st.one_of([mutations(doc) for doc in documented])
    )
    call = Call("runtime.execute_many", lambda c: c.runtime.execute_many([]), list, ())
    loop = Loop(call)
    requests = [
        amas.ExecuteRequest(session_id="s1", content="Hello"),
        amas.ExecuteRequest(session_id="s2", content="Hi"),
    ]

    async def once() -> None:
        results = await loop.client.runtime.execute_many(requests, concurrency=2)
        assert [r.index for r in results] == [0, 1]
        for result in results:
            if result.ok:
                assert isinstance(result.execution, amas.Execution)
                touch(result.execution)
            else:
                assert isinstance(
                    result.error, (amas.ResponseValidationError, amas.ExecutionError)
                ), repr(result.error)
                str(result.error)

    try:

        @_settings(max(1, ANSWER_EXAMPLES // 2))
        @given(strategy)
        def check(value: object) -> None:
            _count(name)
            loop.answers.set(value)
            loop.loop.run_until_complete(once())

        check()
    finally:
        loop.close()
    _ran(name, max(1, ANSWER_EXAMPLES // 2))


# ---- configs ------------------------------------------------------------------------------------

CONFIG_DOCUMENTED = (
    example("sessions-create-flat.request"),
    example("sessions-create-inline-basic.request"),
    example("sessions-create-inline.request"),
    example("agents-create.request")["system_config"],
    example("agent-validate.request"),
    {  # a supervisor with conditional edges: the fields the documented requests leave out
        "name": "Routed",
        "architecture": "workflow",
        "recursion_limit": 25,
        "variables": {"language": "en"},
        "agents": [
            {
                "name": "boss",
                "agent_type": "supervisor",
                "supervised_agents": ["worker"],
                "return_to_supervisor": True,
                "max_handoffs": 3,
                "tools": ["tavily_search", {"calc": {"precision": 2}}],
            },
            {"name": "worker", "agent_type": "react_agent", "knowledge_bases": [{"id": "kb"}]},
        ],
        "edges": [
            {"from": "__start__", "to": "boss"},
            {
                "from": "boss",
                "condition": "done?",
                "condition_type": "boolean",
                "routing": {"yes": "__end__", "no": "worker"},
            },
            {
                "from": "worker",
                "condition": "next?",
                "condition_type": "literal",
                "possible_outputs": ["boss", "__end__"],
            },
        ],
        "entry_point": "boss",
    },
)
CONFIG_KEYS = st.sampled_from(
    sorted(
        {f.name for cls in (amas.SessionConfig, amas.AgentConfig) for f in attrs.fields(cls)}
        | {"from", "to", "condition", "routing", "possible_outputs", "extra"}
    )
)
CONFIG_MAPPINGS = st.dictionaries(CONFIG_KEYS | st.text(max_size=6), JSON, max_size=8)
CONFIG_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "any_mapping": CONFIG_MAPPINGS,
    "mutated": st.one_of([mutations(doc) for doc in CONFIG_DOCUMENTED]).filter(
        lambda value: isinstance(value, dict)
    ),
}


def named(error: amas.ConfigValidationError) -> None:
    """A config error names the field and says why."""
    assert error.field
    assert error.reason


def check_config(data: Mapping[str, Any]) -> amas.SessionConfig | None:
    """``from_dict`` gives a config that round-trips, or ConfigValidationError; so does
    ``validate``. Returns the validated config, or None."""
    try:
        config = amas.SessionConfig.from_dict(data)
    except amas.ConfigValidationError as exc:
        named(exc)
        return None
    assert isinstance(config, amas.SessionConfig)
    wire = config.to_dict()
    assert amas.SessionConfig.from_dict(wire) == config
    assert amas.SessionConfig.from_dict(json.loads(json.dumps(wire))) == config
    repr(config)
    config.is_flat  # noqa: B018
    for edge in config.edges or ():
        edge.targets  # noqa: B018
    try:
        validated = config.validate()
    except amas.ConfigValidationError as exc:
        named(exc)
        return None
    assert validated is config
    return config


@pytest.mark.parametrize("strategy_name", sorted(CONFIG_STRATEGIES))
def test_any_config_mapping(strategy_name: str) -> None:
    """Any mapping: a config (equal to itself read back from its wire form) or the typed error."""
    name = f"config_from_dict[{strategy_name}]"

    @_settings(CONFIG_EXAMPLES)
    @given(CONFIG_STRATEGIES[strategy_name])
    def check(data: dict[str, Any]) -> None:
        _count(name)
        check_config(data)

    check()
    _ran(name, CONFIG_EXAMPLES)


@pytest.mark.parametrize("strategy_name", sorted(CONFIG_STRATEGIES))
def test_any_config_as_yaml_text(strategy_name: str) -> None:
    """The same mappings written as YAML text: ``from_yaml`` gives a config or the typed error."""
    name = f"config_from_yaml[{strategy_name}]"

    @_settings(max(1, CONFIG_EXAMPLES // 2))
    @given(CONFIG_STRATEGIES[strategy_name])
    def check(data: dict[str, Any]) -> None:
        _count(name)
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
        try:
            config = amas.SessionConfig.from_yaml(text)
        except amas.ConfigValidationError as exc:
            named(exc)
            return
        assert config.to_dict() is not None
        assert amas.SessionConfig.from_dict(config.to_dict()) == config
        try:
            config.validate()
        except amas.ConfigValidationError as exc:
            named(exc)

    check()
    _ran(name, max(1, CONFIG_EXAMPLES // 2))


SESSION_ANSWER = example("sessions-create-flat.response")
AGENT_ANSWER = example("agents-create.response")


@pytest.mark.parametrize("strategy_name", sorted(CONFIG_STRATEGIES))
def test_any_config_sent(strategy_name: str) -> None:
    """``sessions.create`` / ``agents.create``: sent (and read), or ConfigValidationError with
    nothing sent; a mapping, a SessionConfig and JSON text of it behave alike."""
    name = f"config_sent[{strategy_name}]"
    sent: list[amas.Request] = []

    def handle(request: amas.Request) -> amas.Response:
        sent.append(request)
        if request.url.endswith("/agent/"):
            return amas.Response(201, json=AGENT_ANSWER)
        return amas.Response(201, json=SESSION_ANSWER)

    loop = asyncio.new_event_loop()
    client = amas.AsyncAmas(
        api_key="k", base_url=BASE, transport=MockTransport(handle), max_retries=0
    )

    Create = Callable[[Any], Awaitable[object]]

    async def send(config: object, create: Create) -> bool:
        before = len(sent)
        try:
            result = await create(config)
        except amas.ConfigValidationError as exc:
            named(exc)
            assert len(sent) == before, "a refused config was sent"
            return False
        assert isinstance(result, (amas.Session, amas.Agent))
        assert len(sent) == before + 1
        return True

    async def once(data: dict[str, Any]) -> None:
        creates: Sequence[Create] = (client.sessions.create, client.agents.create)
        verdicts = set()
        for create in creates:
            verdicts.add(await send(data, create))
        verdicts.add(await send(json.dumps(data), client.sessions.create))
        try:
            config = amas.SessionConfig.from_dict(data)
        except amas.ConfigValidationError:
            assert verdicts == {False}
            return
        verdicts.add(await send(config, client.sessions.create))
        assert len(verdicts) == 1, "the forms of one config were judged differently"

    try:

        @_settings(max(1, CONFIG_EXAMPLES // 2))
        @given(CONFIG_STRATEGIES[strategy_name])
        def check(data: dict[str, Any]) -> None:
            _count(name)
            loop.run_until_complete(once(data))

        check()
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
    _ran(name, max(1, CONFIG_EXAMPLES // 2))


# ---- regression tests: the crashes the properties found, pinned as plain tests -----------------


def _client(handle: Callable[[amas.Request], amas.Response]) -> amas.AsyncAmas:
    return amas.AsyncAmas(
        api_key="k", base_url=BASE, transport=MockTransport(handle), max_retries=0
    )


def _answer(content: bytes | str, status: int = 200) -> amas.AsyncAmas:
    body = content.encode() if isinstance(content, str) else content
    return _client(lambda request: amas.Response(status, content=body))


def test_supervised_agent_that_is_not_a_name_is_a_config_error() -> None:
    # Found by test_any_config_mapping[mutated]: ``supervised_agents: [[]]`` raised
    # TypeError (unhashable type: 'list') from validate().
    data: dict[str, Any] = copy.deepcopy(CONFIG_DOCUMENTED[-1])
    data["agents"][0]["supervised_agents"] = [[]]
    config = amas.SessionConfig.from_dict(data)
    with pytest.raises(amas.ConfigValidationError) as caught:
        config.validate()
    assert caught.value.field == "agents[0].supervised_agents[0]"
    assert "a str" in caught.value.reason


async def test_validate_error_body_whose_errors_is_not_a_list() -> None:
    # Found by test_mutated_documented_answer[agents.validate] (AMAS_PROPERTY_SCALE=25): an
    # error body (no 'valid') whose 'errors' is neither a list nor an object raised
    # TypeError ('bool' object is not iterable).
    async with _answer('{"errors": true}') as client:
        with pytest.raises(amas.ResponseValidationError) as caught:
            await client.agents.validate(FLAT_CONFIG)
    assert "'errors' must be a list or an object, got bool" in caught.value.message
    assert caught.value.body == {"errors": True}
    async with _answer('{"errors": 7}', 400) as client:  # a 4xx it cannot read: re-raised
        with pytest.raises(amas.BadRequestError) as status:
            await client.agents.validate(FLAT_CONFIG)
    assert status.value.body == {"errors": 7}


async def test_validate_answer_nested_a_thousand_levels_deep_reads() -> None:
    # Django REST field errors nested 1000 deep (orjson decodes up to 1024) raised
    # RecursionError while they were flattened.
    depth = 1000
    body = '{"detail":' + '{"a":' * depth + '"bad"' + "}" * depth + "}"
    async with _answer(body) as client:
        verdict = await client.agents.validate(FLAT_CONFIG)
    assert verdict.valid is False
    (error,) = verdict.errors
    assert error.field == ".".join(["a"] * depth)
    assert error.message == "bad"


async def test_validate_answer_flattening_keeps_the_documented_order() -> None:
    body = {
        "llm_config": {"model": ["unknown", "deprecated"], "non_field_errors": ["whole"]},
        "agents": [{"name": ["required"]}, ["loose"]],
    }
    async with _answer(json.dumps(body), 400) as client:
        verdict = await client.agents.validate(FLAT_CONFIG)
    assert [(e.field, e.message) for e in verdict.errors] == [
        ("llm_config.model", "unknown"),
        ("llm_config.model", "deprecated"),
        ("llm_config", "whole"),
        ("agents[0].name", "required"),
        ("agents[1]", "loose"),
    ]


async def test_message_text_of_a_deeply_nested_text_part() -> None:
    # A text part whose 'text' nests 1000 deep read fine, but Execution.text then raised
    # RecursionError (it was str()-ed); a null 'text' read as "None".
    depth = 1000
    deep = "[" * depth + '"x"' + "]" * depth
    answer = (
        '{"status": "completed", "messages": [{"role": "assistant", "content": ['
        '{"type": "text", "text": "a"}, {"type": "text", "text": ' + deep + "},"
        '{"type": "text", "text": null}, {"type": "text", "text": 2}]}]}'
    )
    async with _answer(answer) as client:
        execution = await client.runtime.execute("s1", "Hi")
    assert execution.text == "a2"
    assert execution.messages[0].text == "a2"


def test_config_that_contains_itself_is_a_config_error() -> None:
    # A YAML alias to its own parent made a mapping that contains itself: validate() (and
    # to_dict()) raised RecursionError.
    text = "name: x\nagent_type: llm_agent\nvariables: &v {again: *v}\n"
    with pytest.raises(amas.ConfigValidationError) as caught:
        amas.SessionConfig.from_yaml(text)
    assert caught.value.field == "variables.again"
    assert "contains itself" in caught.value.reason
    listed: list[Any] = []
    listed.append(listed)
    with pytest.raises(amas.ConfigValidationError, match="contains itself"):
        amas.SessionConfig.from_dict({"name": "x", "agent_type": "llm_agent", "tools": listed})
    built = amas.SessionConfig(name="x", agent_type="llm_agent", tools=listed)
    with pytest.raises(amas.ConfigValidationError, match="contains itself or nests deeper"):
        built.validate()


async def test_config_that_contains_itself_is_refused_before_sending() -> None:
    sent: list[amas.Request] = []

    def handle(request: amas.Request) -> amas.Response:
        sent.append(request)
        return amas.Response(201, json=SESSION_ANSWER)

    text = "name: x\nagent_type: llm_agent\ntools: &t [a, *t]\n"
    async with _client(handle) as client:
        with pytest.raises(amas.ConfigValidationError, match="contains itself"):
            await client.sessions.create(text)
        with pytest.raises(amas.ConfigValidationError, match="contains itself"):
            await client.agents.create(text)
    assert sent == []


def test_config_nested_too_deep_is_a_config_error() -> None:
    def nested(depth: int) -> dict[str, Any]:
        value: Any = "leaf"
        for _ in range(depth):
            value = {"k": value}
        return {"name": "x", "agent_type": "llm_agent", "variables": value}

    config = amas.SessionConfig.from_dict(nested(60)).validate()
    assert amas.SessionConfig.from_dict(config.to_dict()) == config
    with pytest.raises(amas.ConfigValidationError, match="nests deeper than 100 levels"):
        amas.SessionConfig.from_dict(nested(2000))
    shared = {"a": 1}  # the same object twice (a YAML alias to a sibling) is fine
    assert amas.SessionConfig.from_dict(
        {"name": "x", "agent_type": "llm_agent", "variables": {"one": shared, "two": shared}}
    ).validate()


# ---- messages stay bounded: a 1 MB answer never makes a 1 MB message -----------------------------

BIG = "x" * 1_000_000
BOUND = 2000


@pytest.mark.parametrize(
    ("call", "answer"),
    [
        (lambda c: c.agents.get("a1"), {"id": "a1", "is_public": BIG}),
        (lambda c: c.agents.get("a1"), {"id": "a1", "created_at": BIG}),
        (lambda c: c.files.get("f1"), {"id": "f1", "size_bytes": "9" * 1_000_000}),
        (lambda c: c.collections.get("c1"), {"id": "c1", "progress": BIG}),
        (lambda c: c.agents.list(), [{"id": "a1", "updated_at": BIG}]),
        (lambda c: c.runtime.execute("s1", "Hi"), {"messages": [{"created_at": "no"}] * 1000}),
        (lambda c: c.runtime.status("s1"), {"message_count": [[[[[[BIG]]]]]]}),
        (
            lambda c: c.knowledge_bases.check_status("kb"),
            {"success": False, "message": BIG},
        ),
        (lambda c: c.sessions.get("s1"), {"session_id": "s1", "created_at": BIG}),
        (lambda c: c.agents.get("a1"), "<html>" + BIG),
    ],
    ids=[
        "bool",
        "timestamp",
        "int",
        "float",
        "list-item",
        "many-items",
        "nested",
        "kb-status",
        "session",
        "not-json",
    ],
)
async def test_response_validation_error_message_is_bounded(
    call: Callable[[amas.AsyncAmas], Awaitable[object]], answer: object
) -> None:
    content = answer if isinstance(answer, str) else json.dumps(answer)
    async with _answer(content) as client:
        with pytest.raises(amas.ResponseValidationError) as caught:
            await call(client)
    error = caught.value
    assert len(str(error)) < BOUND, str(error)[:300]
    assert error.body == (answer if isinstance(answer, str) else json.loads(content))


async def test_many_problems_are_counted_not_listed() -> None:
    answer = {"status": "completed", "messages": [{"created_at": "never"}] * 50}
    async with _answer(json.dumps(answer)) as client:
        with pytest.raises(amas.ResponseValidationError) as caught:
            await client.runtime.execute("s1", "Hi")
    message = caught.value.message
    assert "$.messages[0].created_at: ValueError: not an ISO 8601 timestamp: 'never'" in message
    assert "$.messages[3].created_at" in message
    assert "$.messages[4]" not in message
    assert message.endswith("$.messages: and 46 more items that do not fit")


async def test_an_answer_of_many_bad_items_is_refused_quickly() -> None:
    # 100,000 bad messages (2 MB) took ~40 s to refuse: every failure was kept, with its
    # traceback, until the error was built, and the garbage collector's passes over them
    # grew with the list. Now the first few are kept and the rest counted.
    answer = json.dumps({"status": "completed", "messages": [{"created_at": "no"}] * 20_000})
    async with _answer(answer) as client:
        started = time.perf_counter()
        with pytest.raises(amas.ResponseValidationError) as caught:
            await client.runtime.execute("s1", "Hi")
        elapsed = time.perf_counter() - started
    assert caught.value.message.endswith("$.messages: and 19996 more items that do not fit")
    assert elapsed < 20  # ~0.2 s here; before the fix ~5 s (and ~40 s for 100,000)


# ---- regressions: bounded messages, deep nesting, endless pages ---------------------------------


async def test_deeply_nested_error_body_is_a_status_error() -> None:
    # A 4xx whose JSON body nests 1000 deep: the error body is decoded by the standard
    # library, which raises RecursionError (not ValueError), so the call raises that instead
    # of BadRequestError. Found through agents.validate's 400 path.
    depth = 1000
    body = '{"detail":' + '{"a":' * depth + '"bad"' + "}" * depth + "}"
    async with _answer(body, 400) as client:
        with pytest.raises(amas.BadRequestError):
            await client.agents.get("a1")


async def test_next_link_error_message_is_bounded() -> None:
    answer = {"results": [], "next": "https://elsewhere.example/" + BIG}
    async with _answer(json.dumps(answer)) as client:
        with pytest.raises(amas.ResponseValidationError) as caught:
            await client.agents.list()
    assert len(str(caught.value)) < BOUND


async def test_execution_error_message_is_bounded() -> None:
    answer = {"status": "error", "messages": [], "metadata": {"error": {"message": BIG}}}
    async with _answer(json.dumps(answer)) as client:
        with pytest.raises(amas.ExecutionError) as caught:
            await client.runtime.execute("s1", "Hi")
    assert len(str(caught.value)) < BOUND


async def test_wait_error_messages_are_bounded() -> None:
    failed = {
        "knowledge_base": {
            "id": "kb",
            "status": "failed",
            "processing_metadata": {"message": BIG},
        }
    }
    async with _answer(json.dumps(failed)) as client:
        with pytest.raises(amas.ProcessingError) as processing:
            await client.knowledge_bases.wait("kb", timeout=0)
    async with _answer(json.dumps({"id": "f1", "status": BIG})) as client:
        with pytest.raises(amas.WaitTimeoutError) as waiting:
            await client.files.wait("f1", timeout=0)
    assert len(str(processing.value)) < BOUND
    assert len(str(waiting.value)) < BOUND


async def test_iter_messages_stops_on_a_repeated_page_without_ids() -> None:
    # A server that ignores offset and sends messages without ids: the repeated-page check
    # compares ids only, so the iteration never ends (the handler stops it at 100 pages).
    pages = [0]

    def handle(request: amas.Request) -> amas.Response:
        pages[0] += 1
        if pages[0] > 100:
            raise amas.APIConnectionError("the test stopped an endless iteration")
        return amas.Response(200, json={"messages": [{"content": "a"}], "has_more": True})

    async with _client(handle) as client:
        with pytest.raises(amas.ResponseValidationError):
            await _collect(client.runtime.iter_messages("s1"))


@pytest.mark.parametrize("form", ["yaml", "json"])
def test_config_text_nested_too_deep_is_a_config_error(form: str) -> None:
    deep = "[" * 1500 + "]" * 1500
    text = (
        f"name: x\nagent_type: llm_agent\nvariables: {deep}\n"
        if form == "yaml"
        else f'{{"name": "x", "agent_type": "llm_agent", "variables": {deep}}}'
    )
    with pytest.raises(amas.ConfigValidationError):
        amas.SessionConfig.from_yaml(text)

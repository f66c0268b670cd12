"""The blocking client's agents, files, collections and knowledge bases, end to end against the
emulator served from a thread: what went on the wire (``emulator.requests``), what the emulator
stored, and what came back. Processing is driven by the emulator's controls and polling by
``instant_retries``: nothing sleeps for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import amas_async as amas
from amas_async import sync
from amas_async.testing import Emulator, RecordedRequest, instant_retries

SUPPORT = {
    "name": "Support Agent",
    "agent_type": "llm_agent",
    "system_prompt": "Help kindly.",
    "llm_config": {"model": "gpt-4o", "temperature": 0.7},
}
LOOP_THREAD = "amas-sync-loop"


@pytest.fixture
def client(threaded_emulator: Emulator) -> Iterator[amas.Amas]:
    with amas.Amas(
        base_url=threaded_emulator.base_url, api_key=threaded_emulator.api_key
    ) as opened:
        yield opened


def sent(emulator: Emulator, method: str, path: str) -> list[RecordedRequest]:
    """The requests ``method path`` (path relative to /api/v1) the emulator received."""
    return [r for r in emulator.requests if r.method == method and r.path == "/api/v1" + path]


def last(emulator: Emulator, method: str, path: str) -> RecordedRequest:
    found = sent(emulator, method, path)
    assert found, f"no {method} {path}"
    return found[-1]


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Start an emulator with other settings, served from a thread; stopped at teardown."""
    with contextlib.ExitStack() as stack:

        def start(**settings: Any) -> Emulator:
            return stack.enter_context(Emulator(**settings).run_in_thread())

        yield start


# ---- agents ---------------------------------------------------------------------------------


def test_agents_create_list_get_update_delete_and_start_a_session(
    threaded_emulator: Emulator, client: amas.Amas
) -> None:
    assert isinstance(client.agents, sync.Agents)
    agent = client.agents.create(SUPPORT)
    assert isinstance(agent, amas.Agent)
    assert last(threaded_emulator, "POST", "/agent/").json() == {"system_config": SUPPORT}
    assert agent.agent_key == "support_agent"
    assert agent.name == "Support Agent"
    assert agent.system_config == SUPPORT
    assert agent.raw["id"] == agent.id
    assert [a.id for a in threaded_emulator.agents] == [agent.id]

    assert [a.id for a in client.agents.list()] == [agent.id]
    assert [a.agent_key for a in client.agents.iter()] == ["support_agent"]
    got = client.agents.get(agent.id)
    assert got == agent

    updated = client.agents.update(agent.id, {"llm_config": {"temperature": 0.2}})
    patch = last(threaded_emulator, "PATCH", f"/agent/{agent.id}/")
    assert patch.json() == {"system_config": {"llm_config": {"temperature": 0.2}}}
    assert updated.id == agent.id
    assert updated.system_config["llm_config"] == {"model": "gpt-4o", "temperature": 0.2}
    assert updated.system_config["system_prompt"] == "Help kindly."  # deep-merged
    assert updated.config_hash != agent.config_hash

    assert agent.agent_key is not None
    session = client.sessions.from_agent(agent.agent_key)
    assert isinstance(session, sync.Session)
    assert session.agent_id == agent.id
    assert last(threaded_emulator, "GET", "/sessions/from-agent/").query == {
        "agent_key": "support_agent"
    }
    assert session.execute("Hi").text == "[Support Agent] Help kindly. | Hi"
    by_id = client.sessions.from_agent(agent_id=agent.id)
    assert by_id.agent_id == agent.id

    client.agents.delete(agent.id)
    assert sent(threaded_emulator, "DELETE", f"/agent/{agent.id}/")
    with pytest.raises(amas.NotFoundError):
        client.agents.get(agent.id)
    assert client.agents.list() == []


def test_an_agent_from_a_yaml_file_goes_as_written(
    threaded_emulator: Emulator, client: amas.Amas, tmp_path: Path
) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(
        "name: Release Notes\n"
        "description: 2025-01-15\n"
        "agent_type: llm_agent\n"
        "system_prompt: Summarise.\n"
    )
    agent = client.agents.create(config)
    request = last(threaded_emulator, "POST", "/agent/")
    assert request.headers["Content-Type"].startswith("application/yaml")
    assert "description: 2025-01-15" in request.text  # the date as written, not re-encoded
    assert agent.agent_key == "release_notes"
    assert agent.name == "Release Notes"


def test_a_bad_agent_config_fails_before_sending(
    threaded_emulator: Emulator, client: amas.Amas
) -> None:
    with pytest.raises(amas.ConfigValidationError):
        client.agents.create({"agent_type": "llm_agent"})  # no name: no key
    with pytest.raises(amas.InvalidContentError):
        client.agents.update("a-1", "temperature: 1")  # type: ignore[arg-type]
    assert threaded_emulator.requests == []


@pytest.mark.parametrize("invalid_status", [200, 400])
def test_validate_reads_both_answers_to_an_invalid_config(
    emulator_factory: Callable[..., Emulator], invalid_status: int
) -> None:
    emu = emulator_factory(validate_invalid_status=invalid_status)
    with amas.Amas(base_url=emu.base_url, api_key=emu.api_key) as client:
        ok = client.agents.validate(SUPPORT)
        assert isinstance(ok, amas.ConfigValidation)
        assert ok.valid is True
        assert last(emu, "POST", "/agent/validate/").json() == SUPPORT  # the config itself

        bad = client.agents.validate({"name": "x", "agent_type": "wizard"})
    assert bad.valid is False
    assert [e.field for e in bad.errors] == ["agent_type"]
    assert all(isinstance(e, amas.FieldError) and e.message for e in bad.errors)
    assert "agent_type" in bad.summary


def test_agents_iter_follows_pages_lazily(emulator_factory: Callable[..., Emulator]) -> None:
    emu = emulator_factory(page_size=2)
    for n in range(5):
        emu.register_agent({"name": f"Agent {n}", "agent_type": "llm_agent"})
    with amas.Amas(base_url=emu.base_url, api_key=emu.api_key) as client:
        emu.requests = []
        agents = client.agents.iter()
        first = next(agents)
        assert first.agent_key == "agent_0"
        assert len(sent(emu, "GET", "/agent/")) == 1  # one page so far
        rest = [a.agent_key for a in agents]
        assert rest == ["agent_1", "agent_2", "agent_3", "agent_4"]
        assert len(sent(emu, "GET", "/agent/")) == 3
        assert len(client.agents.list()) == 5


# ---- files ----------------------------------------------------------------------------------


def test_files_upload_list_get_wait_delete(
    threaded_emulator: Emulator, client: amas.Amas, tmp_path: Path
) -> None:
    threaded_emulator.hold_processing()
    path = tmp_path / "manual.txt"
    path.write_bytes(b"How to reset the device.\n" * 40)
    uploaded = client.files.upload(path, tags=["manual", "product"])
    assert isinstance(uploaded, amas.File)
    assert uploaded.status == "uploading"
    assert uploaded.original_filename == "manual.txt"
    assert tuple(uploaded.tags) == ("manual", "product")
    request = last(threaded_emulator, "POST", "/files/")
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="tags"\r\n\r\nmanual,product\r\n' in request.body.replace(
        b"Content-Type: text/plain; charset=utf-8\r\n", b""
    )
    stored = threaded_emulator.files[uploaded.id]
    assert stored.data == path.read_bytes()
    assert stored.tags == ("manual", "product")

    other = client.files.upload(b'{"a": 1}', filename="data.json")
    assert other.tags == ()

    tagged = client.files.list(tags=["manual", "product"])
    request = last(threaded_emulator, "GET", "/files/")
    assert request.query_values("tags") == ["manual", "product"]
    assert [f.id for f in tagged] == [uploaded.id]
    assert {f.id for f in client.files.list()} == {uploaded.id, other.id}
    assert [f.id for f in client.files.iter(search="manual")] == [uploaded.id]
    assert last(threaded_emulator, "GET", "/files/").query == {"search": "manual"}
    assert client.files.list(status="active") == []

    seen: list[tuple[str | None, threading.Thread]] = []

    def on_poll(file: amas.File) -> None:
        seen.append((file.status, threading.current_thread()))
        if len(seen) == 2:
            threaded_emulator.finish_processing(uploaded.id)

    with instant_retries() as clock:
        active = client.files.wait(uploaded.id, poll_interval=0.5, on_poll=on_poll)
    assert active.status == "active"
    assert [status for status, _ in seen] == ["uploading", "uploading", "active"]
    assert {thread for _, thread in seen} == {threading.current_thread()}  # the caller's
    assert clock.sleeps == [0.5, 0.5]
    got = client.files.get(uploaded.id)
    assert got.status == "active"
    assert got.processing_info is not None

    client.files.delete(other.id)
    assert sent(threaded_emulator, "DELETE", f"/files/{other.id}/")
    assert [f.id for f in client.files.list()] == [uploaded.id]
    with_deleted = client.files.list(include_deleted=True)
    assert last(threaded_emulator, "GET", "/files/").query == {"include_deleted": "true"}
    assert {f.id for f in with_deleted} == {uploaded.id, other.id}


def test_files_wait_raises_on_error_and_on_timeout(
    threaded_emulator: Emulator, client: amas.Amas
) -> None:
    threaded_emulator.hold_processing()
    broken = client.files.upload(b"x", filename="broken.txt")
    threaded_emulator.fail_processing(broken.id, "cannot read it")
    with pytest.raises(amas.ProcessingError) as failed:
        client.files.wait(broken.id)
    assert failed.value.status == "error"
    assert failed.value.id == broken.id

    stuck = client.files.upload(b"y", filename="stuck.txt")
    with instant_retries(), pytest.raises(amas.WaitTimeoutError) as timed_out:
        client.files.wait(stuck.id, timeout=3, poll_interval=1)
    assert timed_out.value.status == "uploading"
    assert len(sent(threaded_emulator, "GET", f"/files/{stuck.id}/")) == 4  # at 0, 1, 2, 3 s


def test_files_bad_input_fails_before_sending(
    threaded_emulator: Emulator, client: amas.Amas, tmp_path: Path
) -> None:
    with pytest.raises(amas.InputFileNotFoundError):
        client.files.upload(tmp_path / "missing.pdf")
    with pytest.raises(amas.InvalidRequestError):
        client.files.upload(b"x", filename="a.txt", tags=["a,b"])
    with pytest.raises(amas.InvalidRequestError):
        client.files.list(tags="manual")  # a str is not a list of tags
    assert threaded_emulator.requests == []


# ---- collections ----------------------------------------------------------------------------


def test_collections_create_add_files_get_list(
    threaded_emulator: Emulator, client: amas.Amas
) -> None:
    first = client.files.upload(b"one", filename="one.txt")
    second = client.files.upload(b"two two", filename="two.txt")

    collection = client.collections.create("Manuals", description="Product manuals")
    assert isinstance(collection, amas.Collection)
    assert last(threaded_emulator, "POST", "/collections/").json() == {
        "name": "Manuals",
        "description": "Product manuals",
    }
    assert collection.name == "Manuals"
    assert collection.status == "pending"

    result = client.collections.add_files(collection.id, [first.id, second.id])
    assert isinstance(result, amas.AddFilesResult)
    request = last(threaded_emulator, "POST", f"/collections/{collection.id}/files/")
    assert request.json() == {"file_ids": [first.id, second.id]}
    assert (result.success, result.added, result.failed) == (True, 2, 0)
    assert [r["file_id"] for r in result.results] == [first.id, second.id]

    partial = client.collections.add_files(collection.id, ["no-such-file"])
    assert (partial.success, partial.added, partial.failed) == (False, 0, 1)

    got = client.collections.get(collection.id)
    assert got.data_source_count == 2
    assert got.datasources is not None
    assert [d.data_source for d in got.datasources] == [first.id, second.id]
    assert [d.data_source_name for d in got.datasources] == ["one.txt", "two.txt"]

    client.collections.create("Other")
    assert [c.name for c in client.collections.list(search="Manu")] == ["Manuals"]
    assert last(threaded_emulator, "GET", "/collections/").query == {"search": "Manu"}
    assert {c.name for c in client.collections.iter()} == {"Manuals", "Other"}

    with pytest.raises(amas.InvalidRequestError):
        client.collections.add_files(collection.id, [])


# ---- knowledge bases ------------------------------------------------------------------------


def test_knowledge_bases_create_status_wait_update(
    threaded_emulator: Emulator, client: amas.Amas
) -> None:
    file = client.files.upload(b"alpha beta gamma " * 200, filename="kb.txt")
    collection = client.collections.create("Docs")
    client.collections.add_files(collection.id, [file.id])
    threaded_emulator.hold_processing()

    kb = client.knowledge_bases.create(
        "Product KB",
        selected_collections=[collection.id],
        description="Everything about the product",
        chunking_strategy=amas.ChunkingStrategy.fixed(300, 30),
        embedding_config=amas.EmbeddingConfig("mistral", "mistral-embed", 1024),
    )
    assert isinstance(kb, amas.KnowledgeBase)
    assert last(threaded_emulator, "POST", "/knowledge-bases/").json() == {
        "name": "Product KB",
        "description": "Everything about the product",
        "processing_engine": "milvus",
        "selected_collections": [collection.id],
        "chunking_strategy": {
            "strategy": "fixed",
            "chunk_size": 300,
            "chunk_overlap": 30,
            "split_by": "word",
        },
        "embedding_config": {"provider": "mistral", "model": "mistral-embed", "dimensions": 1024},
    }
    assert kb.status == "pending"
    assert kb.chunking_strategy is not None
    assert kb.chunking_strategy["strategy"] == "fixed"

    status = client.knowledge_bases.check_status(kb.id)
    assert isinstance(status, amas.KnowledgeBaseStatus)
    assert sent(threaded_emulator, "GET", f"/knowledge-bases/{kb.id}/check_status/")
    assert (status.id, status.status, status.finished) == (kb.id, "pending", False)

    threaded_emulator.advance_processing(kb.id, 40)
    running = client.knowledge_bases.check_status(kb.id)
    assert (running.status, running.progress) == ("running", 40)
    assert running.phase
    assert running.total_chunks is not None

    polled: list[amas.KnowledgeBaseStatus] = []

    def on_poll(status: amas.KnowledgeBaseStatus) -> None:
        polled.append(status)
        if len(polled) == 2:
            threaded_emulator.finish_processing(kb.id)

    with instant_retries() as clock:
        done = client.knowledge_bases.wait(kb.id, on_poll=on_poll)
    assert isinstance(done, amas.KnowledgeBase)
    assert (done.id, done.status, done.progress) == (kb.id, "completed", 100)
    assert [s.status for s in polled] == ["running", "running", "completed"]
    assert clock.sleeps == [2.0, 2.0]  # the default poll interval, on the SDK's clock
    assert client.knowledge_bases.get(kb.id).status == "completed"

    renamed = client.knowledge_bases.update(kb.id, name="Product KB v2", description="New")
    patch = last(threaded_emulator, "PATCH", f"/knowledge-bases/{kb.id}/")
    assert patch.json() == {"name": "Product KB v2", "description": "New"}
    assert (renamed.name, renamed.description) == ("Product KB v2", "New")


def test_knowledge_base_wait_raises_when_processing_fails(
    threaded_emulator: Emulator, client: amas.Amas
) -> None:
    file = client.files.upload(b"text", filename="a.txt")
    threaded_emulator.hold_processing()
    kb = client.knowledge_bases.create("Broken", selected_datasources=[file.id])
    assert last(threaded_emulator, "POST", "/knowledge-bases/").json()["selected_datasources"] == [
        file.id
    ]
    threaded_emulator.fail_processing(kb.id, "embedding service down")
    with pytest.raises(amas.ProcessingError) as failed:
        client.knowledge_bases.wait(kb.id)
    assert failed.value.status == "failed"
    assert "embedding service down" in str(failed.value)
    assert isinstance(failed.value.result, amas.KnowledgeBaseStatus)

    with pytest.raises(amas.InvalidRequestError):
        client.knowledge_bases.create("Nothing")  # no collection, no file
    with pytest.raises(amas.InvalidRequestError):
        client.knowledge_bases.update(kb.id, colour="blue")


def test_knowledge_base_status_falls_back_to_the_older_path(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emu = emulator_factory(kb_status_paths=("status",), processing_seconds=0)
    with amas.Amas(base_url=emu.base_url, api_key=emu.api_key) as client:
        file = client.files.upload(b"text", filename="a.txt")
        kb = client.knowledge_bases.create("Legacy", selected_datasources=[file.id])
        first = client.knowledge_bases.check_status(kb.id)
        second = client.knowledge_bases.check_status(kb.id)
    assert first.status == second.status == "completed"
    paths = [r.path.rsplit("/", 2)[-2] for r in emu.requests if r.path.endswith("status/")]
    assert paths == ["check_status", "status", "status"]  # the older path asked first after


def test_on_poll_runs_on_the_helper_thread_inside_a_running_loop(
    threaded_emulator: Emulator, client: amas.Amas
) -> None:
    threaded_emulator.set_processing_seconds(0)
    file = client.files.upload(b"text", filename="a.txt")
    kb = client.knowledge_bases.create("KB", selected_datasources=[file.id])
    threads: list[str] = []

    async def from_async_code() -> amas.KnowledgeBase:
        return client.knowledge_bases.wait(
            kb.id, on_poll=lambda status: threads.append(threading.current_thread().name)
        )

    done = asyncio.run(from_async_code())
    assert done.status == "completed"
    assert threads == [LOOP_THREAD]

"""Agents, files, collections and knowledge bases end to end: AsyncAmas against the emulator.

A real HTTP server on 127.0.0.1, reached through the package's own pytest fixtures
(``amas_client``, ``amas_emulator``) or an :class:`Emulator` with other settings. The sync
client and the CLI are exercised the same way in ``test_sync_resources.py`` and
``test_cli_resources.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import amas_async as amas
from amas_async.testing import Emulator, instant_retries

FLAT = {
    "name": "Support Agent",
    "agent_type": "llm_agent",
    "system_prompt": "You are a helpful customer support agent.",
    "llm_config": {"model": "gpt-4o", "temperature": 0.7},
}


async def _client(emulator: Emulator, **kwargs: Any) -> amas.AsyncAmas:
    return amas.AsyncAmas(base_url=emulator.base_url, api_key=emulator.api_key, **kwargs)


@pytest.fixture
async def paged() -> AsyncIterator[Emulator]:
    async with Emulator(page_size=2, processing_seconds=0) as emulator:
        yield emulator


# ---- agents --------------------------------------------------------------------------------------


async def test_agent_lifecycle_and_a_session_from_it(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    agent = await amas_client.agents.create(FLAT)
    assert agent.agent_key == "support_agent"
    assert agent.system_config == FLAT
    assert amas_emulator.requests[-1].json() == {"system_config": FLAT}

    assert [a.id for a in await amas_client.agents.list()] == [agent.id]
    assert (await amas_client.agents.get(agent.id)).config_hash == agent.config_hash

    updated = await amas_client.agents.update(agent.id, {"llm_config": {"temperature": 0.2}})
    assert updated.system_config["llm_config"] == {"model": "gpt-4o", "temperature": 0.2}
    assert updated.config_hash != agent.config_hash
    assert updated.updated_at is not None
    assert agent.updated_at is not None
    assert updated.updated_at >= agent.updated_at

    session = await amas_client.sessions.from_agent(agent.agent_key)
    reply = await session.execute("Hello")
    assert reply.text

    await amas_client.agents.delete(agent.id)
    assert amas_emulator.requests[-1].method == "DELETE"
    assert await amas_client.agents.list() == []
    with pytest.raises(amas.NotFoundError):
        await amas_client.agents.get(agent.id)


async def test_an_agent_from_yaml_goes_as_written_and_the_server_accepts_it(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator, tmp_path: Path
) -> None:
    text = (
        "name: Dated Agent\n"
        "description: 2025-01-15\n"
        "save_messages: yes\n"
        "agent_type: llm_agent\n"
        "llm_config: {model: gpt-4o}\n"
    )
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    agent = await amas_client.agents.create(path)
    sent = amas_emulator.requests[-1]
    assert sent.headers["Content-Type"] == "application/yaml"
    assert sent.body.decode().endswith("  llm_config: {model: gpt-4o}\n")
    assert agent.system_config["description"] == "2025-01-15"
    assert agent.system_config["save_messages"] is True

    session = await amas_client.sessions.create(text)  # the same text as a session config
    assert amas_emulator.requests[-1].body == text.encode()
    assert (await session.execute("hi")).text


@pytest.mark.parametrize("status", [200, 400])
async def test_validate_against_a_server_answering_invalid_with(status: int) -> None:
    async with (
        Emulator(validate_invalid_status=status) as emulator,
        await _client(emulator) as client,
    ):
        bad = await client.agents.validate({**FLAT, "llm_config": {"model": ""}})
        good = await client.agents.validate(FLAT)
    assert bad.valid is False
    assert bad.errors
    assert bad.errors[0].field == "llm_config.model"
    assert good.valid is True


async def test_a_duplicate_agent_is_a_conflict(amas_client: amas.AsyncAmas) -> None:
    await amas_client.agents.create(FLAT)
    with pytest.raises(amas.ConflictError):
        await amas_client.agents.create(FLAT)


# ---- pagination against a server that paginates --------------------------------------------------


async def test_lists_follow_next_links_of_a_paginating_server(paged: Emulator) -> None:
    for n in range(5):
        paged.register_agent({**FLAT, "name": f"Agent {n}"})
    async with await _client(paged) as client:
        names = [agent.name async for agent in client.agents.iter()]
        listed = await client.agents.list()
    assert names == [f"Agent {n}" for n in range(5)]
    assert [a.name for a in listed] == names
    pages = [r.query_values("page") for r in paged.requests if r.method == "GET"]
    assert pages == [[], ["2"], ["3"], [], ["2"], ["3"]]


async def test_file_filters_and_pages_together(paged: Emulator, tmp_path: Path) -> None:
    async with await _client(paged) as client:
        for n in range(3):
            await client.files.upload(b"text %d" % n, filename=f"n{n}.txt", tags=["a", "b"])
        await client.files.upload(b"other", filename="other.txt", tags=["a"])
        both = await client.files.list(tags=["a", "b"])
        assert sorted(str(f.original_filename) for f in both) == ["n0.txt", "n1.txt", "n2.txt"]
    followed = [r for r in paged.requests if r.query_values("page") == ["2"]]
    assert followed
    assert followed[0].query_values("tags") == ["a", "b"]


# ---- files ---------------------------------------------------------------------------------------


async def test_file_upload_wait_list_delete(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "manual.pdf"
    path.write_bytes(b"%PDF-1.4\n" + b"x" * 5000)
    uploaded = await amas_client.files.upload(path, tags=["manual", "product"])
    assert uploaded.status == "uploading"
    assert uploaded.size_bytes == 5009
    assert uploaded.file_type == "document"
    assert amas_emulator.files[uploaded.id].data == path.read_bytes()

    ready = await amas_client.files.wait(uploaded.id)
    assert ready.status == "active"
    assert ready.processing_info

    listed = await amas_client.files.list(tags=["manual"], status="active")
    assert [f.id for f in listed] == [uploaded.id]
    assert await amas_client.files.list(search="nothing-like-it") == []

    await amas_client.files.delete(uploaded.id)
    assert await amas_client.files.list() == []
    (deleted,) = await amas_client.files.list(include_deleted=True)
    assert deleted.status == "deleted"


async def test_file_wait_raises_when_processing_fails(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    amas_emulator.hold_processing()
    uploaded = await amas_client.files.upload(b"data", filename="a.txt")
    amas_emulator.fail_processing(uploaded.id, "cannot read")
    with pytest.raises(amas.ProcessingError) as info:
        await amas_client.files.wait(uploaded.id)
    assert info.value.status == "error"
    assert info.value.result.id == uploaded.id


async def test_file_wait_times_out_on_the_sdk_clock(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    amas_emulator.hold_processing()
    uploaded = await amas_client.files.upload(b"data", filename="a.txt")
    with pytest.raises(amas.WaitTimeoutError) as info:
        await amas_client.files.wait(uploaded.id, timeout=5, poll_interval=1)
    assert info.value.status == "uploading"


# ---- collections and knowledge bases -------------------------------------------------------------


async def _collection_with_a_file(client: amas.AsyncAmas) -> tuple[amas.Collection, amas.File]:
    doc = await client.files.upload(b"knowledge", filename="manual.txt")
    collection = await client.collections.create("Product docs", description="Manuals")
    added = await client.collections.add_files(collection.id, [doc.id])
    assert (added.success, added.added, added.failed) == (True, 1, 0)
    return collection, doc


async def test_collections_and_a_knowledge_base_through_to_completed(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    collection, doc = await _collection_with_a_file(amas_client)
    fetched = await amas_client.collections.get(collection.id)
    assert fetched.datasources is not None
    assert [d.data_source for d in fetched.datasources] == [doc.id]
    partial = await amas_client.collections.add_files(collection.id, ["no-such-file"])
    assert (partial.success, partial.failed) == (False, 1)

    amas_emulator.hold_processing()
    kb = await amas_client.knowledge_bases.create(
        "Support KB",
        selected_collections=[collection.id],
        chunking_strategy=amas.ChunkingStrategy.hierarchical(),
        embedding_config=amas.EmbeddingConfig(
            provider="mistral", model="mistral-embed", dimensions=1024
        ),
    )
    assert kb.status == "pending"
    assert amas_emulator.requests[-1].json()["chunking_strategy"]["strategy"] == "hierarchical"
    amas_emulator.advance_processing(kb.id, 40)
    status = await amas_client.knowledge_bases.check_status(kb.id)
    assert status.status == "running"
    assert status.progress == 40
    amas_emulator.finish_processing(kb.id)
    seen: list[str | None] = []

    async def show(s: amas.KnowledgeBaseStatus) -> None:  # an async callback is awaited
        seen.append(s.status)

    done = await amas_client.knowledge_bases.wait(kb.id, on_poll=show)
    assert done.status == "completed"
    assert seen == ["completed"]
    renamed = await amas_client.knowledge_bases.update(kb.id, name="Support KB v2")
    assert renamed.name == "Support KB v2"


async def test_knowledge_base_wait_raises_on_failed(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    collection, _ = await _collection_with_a_file(amas_client)
    amas_emulator.hold_processing()
    kb = await amas_client.knowledge_bases.create("KB", selected_collections=[collection.id])
    amas_emulator.fail_processing(kb.id, "embedding service down")
    with pytest.raises(amas.ProcessingError, match="embedding service down"):
        await amas_client.knowledge_bases.wait(kb.id)


async def test_status_falls_back_to_the_older_path_on_a_real_server() -> None:
    async with (
        Emulator(kb_status_paths=("status",), processing_seconds=0) as emulator,
        await _client(emulator) as client,
    ):
        doc = await client.files.upload(b"x", filename="x.txt")
        kb = await client.knowledge_bases.create("KB", selected_datasources=[doc.id])
        first = await client.knowledge_bases.check_status(kb.id)
        await client.knowledge_bases.check_status(kb.id)
    assert first.status == "completed"
    assert first.failed_count == 0
    paths = [r.path.rsplit("/", 2)[-2] for r in emulator.requests if "status" in r.path]
    assert paths == ["check_status", "status", "status"]


async def test_kb_create_unknown_collection_is_a_bad_request(amas_client: amas.AsyncAmas) -> None:
    with pytest.raises(amas.BadRequestError):
        await amas_client.knowledge_bases.create("KB", selected_collections=["nope"])


# ---- retry safety on a real server: never two objects --------------------------------------------


CREATES: dict[str, tuple[str, Callable[[amas.AsyncAmas], Awaitable[Any]]]] = {
    "agent": ("/api/v1/agent/", lambda c: c.agents.create(FLAT)),
    "file": ("/api/v1/files/", lambda c: c.files.upload(b"x", filename="x.txt")),
    "collection": ("/api/v1/collections/", lambda c: c.collections.create("C")),
}


@pytest.mark.parametrize("kind", list(CREATES))
async def test_a_create_failing_with_500_is_not_retried(
    kind: str, amas_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    path, create = CREATES[kind]
    amas_emulator.fail_next(1, status=500, path=path, method="POST")
    with pytest.raises(amas.InternalServerError) as info:
        await create(amas_client)
    assert info.value.attempts == 1
    assert [r.path for r in amas_emulator.requests if r.method == "POST"] == [path]


@pytest.mark.parametrize("kind", list(CREATES))
async def test_a_create_refused_with_503_is_retried_once_and_made_once(
    kind: str, amas_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    path, create = CREATES[kind]
    amas_emulator.fail_next(1, status=503, path=path, method="POST")
    created = await create(amas_client)
    posts = [r for r in amas_emulator.requests if r.method == "POST"]
    assert len(posts) == 2
    assert posts[0].headers["Idempotency-Key"] == posts[1].headers["Idempotency-Key"]
    listed: list[Any]
    if kind == "agent":
        listed = await amas_client.agents.list()
    elif kind == "file":
        listed = await amas_client.files.list()
    else:
        listed = await amas_client.collections.list()
    assert [item.id for item in listed] == [created.id]


async def test_reads_are_retried_on_500(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    agent = await amas_client.agents.create(FLAT)
    amas_emulator.fail_next(2, status=500, path=f"/api/v1/agent/{agent.id}/", method="GET")
    with instant_retries():
        assert (await amas_client.agents.get(agent.id)).id == agent.id


async def test_the_older_collections_field_is_accepted_by_the_server(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    collection, _ = await _collection_with_a_file(amas_client)
    kb = await amas_client.knowledge_bases.create("Legacy KB", collections=[collection.id])
    assert amas_emulator.requests[-1].json()["collections"] == [collection.id]
    assert (await amas_client.knowledge_bases.wait(kb.id)).status == "completed"


async def test_a_retried_upload_streams_the_whole_file_again(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "big.pdf"
    data = bytes(range(256)) * 4096  # 1 MiB
    path.write_bytes(data)
    amas_emulator.fail_next(1, status=503, path="/api/v1/files/", method="POST")
    uploaded = await amas_client.files.upload(path)
    posts = [r for r in amas_emulator.requests if r.method == "POST"]
    assert len(posts) == 2
    assert all(data in r.body for r in posts)  # each attempt carried the whole file
    assert amas_emulator.files[uploaded.id].data == data

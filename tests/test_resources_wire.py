"""Agents, files, collections and knowledge bases on the wire (MockTransport).

What each call sends (every documented request example, JSON-equal), how each documented answer
reads back, the list reader (bare arrays, envelopes, ``next`` links), DELETE's empty 204, YAML
sent as written, and which calls are retried where they may have run. End-to-end behaviour
against the emulator is in ``test_e2e_resources.py``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from mockapi import BASE, MockAPI, headers_of, query_of, sent_json

import amas_async as amas
from amas_async.testing import instant_retries

EXAMPLES = Path(__file__).resolve().parent / "data" / "examples"


def load(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


AGENT = load("agents-get.response.json")
AGENT_ID = AGENT["id"]
FILE = load("files-get.response.json")
COLLECTION = load("collections-get.response.json")
KB = load("knowledge-bases-get.response.json")


# ---- groundwork: PATCH, DELETE and 204, repeated query keys --------------------------------------


async def test_delete_accepts_204_with_an_empty_body() -> None:
    api = MockAPI()
    api.add("DELETE", f"{BASE}/agent/{AGENT_ID}/", status=204)
    async with api.client() as client:
        await client.agents.delete(AGENT_ID)  # returns None: nothing to read
    request = api.only_call()
    assert request.method == "DELETE"
    assert request.content is None
    assert "Idempotency-Key" not in headers_of(request)


@pytest.mark.parametrize("body", [b"", b"null", b'{"deleted": true}', b"<html>ok</html>"])
async def test_delete_success_is_the_status_whatever_the_body(body: bytes) -> None:
    api = MockAPI()
    api.add("DELETE", f"{BASE}/files/file_123/", status=200, content=body)
    async with api.client() as client:
        await client.files.delete("file_123")


async def test_an_empty_200_to_a_get_is_still_a_validation_error() -> None:
    api = MockAPI()
    api.get(f"{BASE}/agent/{AGENT_ID}/", content=b"")
    async with api.client() as client:
        with pytest.raises(amas.ResponseValidationError, match="empty body"):
            await client.agents.get(AGENT_ID)


async def test_delete_errors_are_typed() -> None:
    api = MockAPI()
    api.add("DELETE", f"{BASE}/agent/nope/", status=404, json={"detail": "Not found."})
    async with api.client(max_retries=0) as client:
        with pytest.raises(amas.NotFoundError):
            await client.agents.delete("nope")


async def test_file_filters_repeat_the_tags_key_and_skip_what_is_not_given() -> None:
    api = MockAPI()
    api.get(
        f"{BASE}/files/?file_type=document&status=active&search=man&tags=manual&tags=product"
        "&include_deleted=false",
        json=[FILE],
    )
    async with api.client() as client:
        files = await client.files.list(
            file_type="document",
            status="active",
            search="man",
            tags=["manual", "product"],
            include_deleted=False,
        )
    assert [f.id for f in files] == ["file_123"]
    assert query_of(api.only_call()) == [
        ("file_type", "document"),
        ("status", "active"),
        ("search", "man"),
        ("tags", "manual"),
        ("tags", "product"),
        ("include_deleted", "false"),
    ]


async def test_list_without_filters_sends_no_query() -> None:
    api = MockAPI()
    api.get(f"{BASE}/collections/", json=load("collections-list.response.json"))
    async with api.client() as client:
        (collection,) = await client.collections.list()
    assert collection.id == "coll_123"
    assert query_of(api.only_call()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tags": "manual"}, "tags must be a list"),
        ({"tags": ["a,b"]}, "comma"),
        ({"tags": [""]}, "non-empty"),
        ({"include_deleted": "yes"}, "include_deleted must be a bool"),
        ({"search": 1.5}, "search must be a str"),
    ],
)
async def test_bad_filters_raise_before_sending(kwargs: dict[str, Any], message: str) -> None:
    api = MockAPI()
    async with api.client() as client:
        with pytest.raises(amas.InvalidRequestError, match=message):
            await client.files.list(**kwargs)
    assert api.calls == []


# ---- the list reader: bare arrays, envelopes, next links -----------------------------------------


def _agent(n: int) -> dict[str, Any]:
    return {**AGENT, "id": f"agent-{n}", "agent_key": f"agent_{n}"}


async def test_list_reads_the_documented_bare_array() -> None:
    api = MockAPI()
    api.get(f"{BASE}/agent/", json=load("agents-list.response.json"))
    async with api.client() as client:
        (agent,) = await client.agents.list()
    assert agent.agent_key == "customer_support_agent"
    assert agent.raw == load("agents-list.response.json")[0]


async def test_list_and_iter_follow_next_links_of_a_drf_envelope() -> None:
    api = MockAPI()
    api.get(
        f"{BASE}/agent/",
        json={
            "count": 3,
            "next": f"{BASE}/agent/?page=2",
            "previous": None,
            "results": [_agent(1), _agent(2)],
        },
        repeat=True,
    )
    api.get(
        f"{BASE}/agent/?page=2",
        json={"count": 3, "next": None, "previous": f"{BASE}/agent/", "results": [_agent(3)]},
        repeat=True,
    )
    async with api.client() as client:
        listed = await client.agents.list()
        iterated = [agent.id async for agent in client.agents.iter()]
    assert [a.id for a in listed] == iterated == ["agent-1", "agent-2", "agent-3"]
    assert [c.url for c in api.calls] == [
        f"{BASE}/agent/",
        f"{BASE}/agent/?page=2",
        f"{BASE}/agent/",
        f"{BASE}/agent/?page=2",
    ]


async def test_iter_is_lazy() -> None:
    api = MockAPI()
    api.get(
        f"{BASE}/agent/",
        json={"count": 3, "next": f"{BASE}/agent/?page=2", "results": [_agent(1)]},
    )
    async with api.client() as client:
        async for agent in client.agents.iter():
            assert agent.id == "agent-1"
            break
    assert len(api.calls) == 1


async def test_a_relative_next_link_is_resolved_against_the_page() -> None:
    api = MockAPI()
    api.get(f"{BASE}/files/?tags=a", json={"next": "?tags=a&page=2", "results": [FILE]})
    api.get(f"{BASE}/files/?tags=a&page=2", json={"next": None, "results": [FILE]})
    async with api.client() as client:
        files = await client.files.list(tags=["a"])
    assert len(files) == 2


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.test/api/v1/agent/?page=2",
        "http://amas.test/api/v1/agent/?page=2",  # a downgrade to plain http is another origin
        "https://amas.test/other/agent/?page=2",
    ],
)
async def test_next_links_elsewhere_are_not_followed(link: str) -> None:
    api = MockAPI()
    api.get(f"{BASE}/agent/", json={"next": link, "results": [_agent(1)]})
    async with api.client() as client:
        with pytest.raises(amas.ResponseValidationError, match="not followed"):
            await client.agents.list()
    assert len(api.calls) == 1


async def test_a_next_link_back_to_the_first_page_stops_before_reading_it_again() -> None:
    api = MockAPI()
    api.get(f"{BASE}/files/?tags=a", json={"next": f"{BASE}/files/?tags=a", "results": [FILE]})
    async with api.client() as client:
        with pytest.raises(amas.ResponseValidationError, match="already read"):
            await client.files.list(tags=["a"])
    assert len(api.calls) == 1


async def test_a_next_link_back_to_a_read_page_stops_with_an_error() -> None:
    api = MockAPI()
    api.get(f"{BASE}/agent/", json={"next": f"{BASE}/agent/?page=2", "results": []})
    api.get(f"{BASE}/agent/?page=2", json={"next": f"{BASE}/agent/?page=2", "results": []})
    async with api.client() as client:
        with pytest.raises(amas.ResponseValidationError, match="already read"):
            await client.agents.list()


@pytest.mark.parametrize(
    "body",
    [{"agents": []}, "agents", 3, {"results": {}}, {"results": [], "next": 7}, [1]],
)
async def test_a_list_answer_of_another_shape_is_a_validation_error(body: object) -> None:
    api = MockAPI()
    api.get(f"{BASE}/agent/", json=body)
    async with api.client() as client:
        with pytest.raises(amas.ResponseValidationError) as info:
            await client.agents.list()
    assert info.value.body == body


# ---- agents --------------------------------------------------------------------------------------


async def test_agents_create_sends_the_documented_body() -> None:
    request = load("agents-create.request.json")
    api = MockAPI()
    api.post(f"{BASE}/agent/", status=201, json=load("agents-create.response.json"))
    async with api.client() as client:
        agent = await client.agents.create(request["system_config"])
    sent = api.only_call()
    assert sent_json(sent) == request
    assert headers_of(sent)["Content-Type"] == "application/json"
    assert "Idempotency-Key" in headers_of(sent)
    assert agent.agent_key == "support_agent"
    assert agent.version_number == "1.0.0"
    # knowledge-base references pass through untouched, whichever key names the id
    assert agent.system_config["knowledge_bases"][0]["knowledge_base_id"] == "kb_123"


async def test_agents_create_from_models_and_knowledge_base_references() -> None:
    kb_refs = [
        {"name": "docs", "knowledge_base_type": "milvus", "id": "kb_1"},
        {"name": "old", "knowledge_base_type": "milvus", "knowledge_base_id": "kb_2"},
    ]
    config = amas.SessionConfig(
        name="Support Agent",
        agents=[amas.AgentConfig(name="main", agent_type="llm_agent", knowledge_bases=kb_refs)],
        entry_point="main",
    )
    api = MockAPI()
    api.post(f"{BASE}/agent/", json=load("agents-create.response.json"), repeat=True)
    async with api.client() as client:
        await client.agents.create(config)
        await client.agents.create(amas.AgentConfig(name="Solo", agent_type="llm_agent"))
    first, second = (sent_json(c) for c in api.calls)
    assert first == {"system_config": config.to_dict()}
    assert first["system_config"]["agents"][0]["knowledge_bases"] == kb_refs
    assert second == {"system_config": {"name": "Solo", "agent_type": "llm_agent"}}


async def test_agents_create_sends_yaml_as_written(tmp_path: Path) -> None:
    text = (
        "# my agent\n"
        "name: Support Agent\n"
        "description: 2025-01-15\n"
        "save_messages: yes\n"
        "agent_type: llm_agent\n"
        "system_prompt: |\n"
        "  Be kind.\n"
        "  Be brief.\n"
    )
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    api = MockAPI()
    api.post(f"{BASE}/agent/", json=load("agents-create.response.json"), repeat=True)
    async with api.client() as client:
        await client.agents.create(path)
        await client.agents.create(text)
    for call in api.calls:
        assert headers_of(call)["Content-Type"] == "application/yaml"
        assert call.content is not None
        sent = call.content.decode()
        assert sent.startswith("system_config:\n  # my agent\n  name: Support Agent\n")
        # The server's YAML reader sees the document as the user wrote it, under the key.
        assert yaml.safe_load(sent) == {"system_config": yaml.safe_load(text)}


async def test_yaml_with_a_directive_goes_as_json_under_the_key() -> None:
    text = "%YAML 1.1\n---\nname: A\nagent_type: llm_agent\n"
    api = MockAPI()
    api.post(f"{BASE}/agent/", json=load("agents-create.response.json"))
    async with api.client() as client:
        await client.agents.create(text)
    call = api.only_call()
    assert headers_of(call)["Content-Type"] == "application/json"
    assert sent_json(call) == {"system_config": {"name": "A", "agent_type": "llm_agent"}}


def test_local_checks_take_yaml_1_1_booleans_and_dates() -> None:
    config = amas.SessionConfig.from_yaml(
        "name: A\nagent_type: llm_agent\ndescription: 2025-01-15\n"
        "save_messages: yes\npersistent_state: off\n"
    ).validate()
    assert (config.save_messages, config.persistent_state) == (True, False)
    assert config.description == "2025-01-15"


async def test_agents_create_sends_json_text_as_written(tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    path.write_text('{"name": "A", "agent_type": "llm_agent"}', encoding="utf-8")
    api = MockAPI()
    api.post(f"{BASE}/agent/", json=load("agents-create.response.json"))
    async with api.client() as client:
        await client.agents.create(path)
    call = api.only_call()
    assert call.content == b'{"system_config":{"name": "A", "agent_type": "llm_agent"}}'
    assert headers_of(call)["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({"agent_type": "llm_agent"}, amas.ConfigValidationError, "name"),
        ({"name": "A", "agent_type": "robot"}, amas.ConfigValidationError, "agent_type"),
        (42, amas.InvalidContentError, "config must be"),
        ("missing.yaml", amas.InputFileNotFoundError, "missing.yaml"),
    ],
)
async def test_agents_create_checks_locally(
    config: object, error: type[Exception], message: str
) -> None:
    api = MockAPI()
    async with api.client() as client:
        with pytest.raises(error, match=message):
            await client.agents.create(config)  # type: ignore[arg-type]
    assert api.calls == []


async def test_agents_update_sends_the_partial_unvalidated() -> None:
    request = load("agents-update.request.json")
    api = MockAPI()
    api.add("PATCH", f"{BASE}/agent/{AGENT_ID}/", json={**AGENT, "config_hash": "new"})
    async with api.client() as client:
        agent = await client.agents.update(AGENT_ID, request["system_config"])
    call = api.only_call()
    assert call.method == "PATCH"
    assert sent_json(call) == request
    assert "Idempotency-Key" not in headers_of(call)
    assert agent.config_hash == "new"


async def test_agents_update_refuses_what_is_not_a_mapping() -> None:
    api = MockAPI()
    async with api.client() as client:
        with pytest.raises(amas.InvalidContentError, match="mapping"):
            await client.agents.update(AGENT_ID, "system_prompt: x")  # type: ignore[arg-type]
        with pytest.raises(amas.InvalidRequestError, match="agent_id"):
            await client.agents.update("../x", {})
    assert api.calls == []


async def test_ids_are_escaped_in_paths() -> None:
    api = MockAPI()
    api.get(f"{BASE}/agent/a%20b/", json=AGENT)
    async with api.client() as client:
        await client.agents.get("a b")
    assert api.only_call().url == f"{BASE}/agent/a%20b/"


@pytest.mark.parametrize("status", [200, 400, 422])
async def test_validate_reads_the_invalid_answer_at_any_status(status: int) -> None:
    request = load("agent-validate.request.json")
    api = MockAPI()
    api.post(
        f"{BASE}/agent/validate/", status=status, json=load("agent-validate-invalid.response.json")
    )
    async with api.client() as client:
        check = await client.agents.validate(request)
    assert sent_json(api.only_call()) == request
    assert check.valid is False
    assert [(e.field, e.message) for e in check.errors] == [
        ("llm_config.model", "Invalid model specified")
    ]


async def test_validate_reads_the_valid_answer_and_sends_configs_unchecked() -> None:
    api = MockAPI()
    api.post(f"{BASE}/agent/validate/", json=load("agent-validate-valid.response.json"))
    async with api.client() as client:
        # not a valid config locally (unknown agent type): the server is asked anyway
        check = await client.agents.validate({"name": "A", "agent_type": "robot"})
    assert check.valid is True
    assert check.message == "Configuration is valid"
    assert list(check.errors) == []


async def test_validate_sends_yaml_as_written() -> None:
    text = "name: Test Agent\nagent_type: llm_agent\nllm_config: {model: gpt-4o}\n"
    api = MockAPI()
    api.post(f"{BASE}/agent/validate/", json=load("agent-validate-valid.response.json"))
    async with api.client() as client:
        await client.agents.validate(text)
    call = api.only_call()
    assert call.content == text.encode()
    assert headers_of(call)["Content-Type"] == "application/yaml"


async def test_validate_keeps_an_unreadable_400_as_the_status_error() -> None:
    api = MockAPI()
    api.post(f"{BASE}/agent/validate/", status=400, text="<html>Bad Request</html>")
    async with api.client() as client:
        with pytest.raises(amas.BadRequestError):
            await client.agents.validate({"name": "A"})


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.collections.create("\ud800"),
        lambda c: c.agents.update(AGENT_ID, {"llm_config": {"temperature": float("nan")}}),
        lambda c: c.knowledge_bases.update("kb_1", processing_metadata={"x": float("inf")}),
        lambda c: c.knowledge_bases.create("KB", selected_collections=["c"], description="\ud800"),
    ],
)
async def test_values_json_cannot_hold_raise_before_sending(
    call: Callable[[amas.AsyncAmas], Awaitable[object]],
) -> None:
    api = MockAPI()
    async with api.client() as client:
        with pytest.raises(amas.InvalidRequestError, match="cannot be encoded as JSON"):
            await call(client)
    assert api.calls == []


# ---- files ---------------------------------------------------------------------------------------


async def test_files_upload_sends_field_file_and_comma_separated_tags(tmp_path: Path) -> None:
    path = tmp_path / "manual.pdf"
    path.write_bytes(b"%PDF-1.4 pages")
    api = MockAPI()
    api.post(f"{BASE}/files/", status=201, json=load("files-upload.response.json"))
    async with api.client() as client:
        uploaded = await client.files.upload(path, tags=["manual", "product"])
    call = api.only_call()
    assert call.multipart is not None
    assert list(call.multipart.fields) == [("tags", "manual,product")]
    (part,) = call.multipart.files
    assert (part.name, part.filename, part.media_type) == ("file", "manual.pdf", "application/pdf")
    assert "Idempotency-Key" in headers_of(call)
    assert uploaded.status == "uploading"
    assert uploaded.id == "file_456"
    assert uploaded.tags == ("manual", "product") or list(uploaded.tags) == ["manual", "product"]


async def test_files_upload_takes_a_media_type_and_checks_it() -> None:
    api = MockAPI()
    api.post(f"{BASE}/files/", json=load("files-upload.response.json"))
    async with api.client() as client:
        await client.files.upload(b"a,b", filename="data.bin", media_type="text/csv")
        with pytest.raises(amas.InvalidRequestError, match="type/subtype"):
            await client.files.upload(b"a,b", filename="data.bin", media_type="csv")
    multipart = api.only_call().multipart
    assert multipart is not None
    assert [(p.filename, p.media_type) for p in multipart.files] == [("data.bin", "text/csv")]


async def test_files_upload_from_bytes_needs_a_name() -> None:
    api = MockAPI()
    async with api.client() as client:
        with pytest.raises(amas.InvalidRequestError, match="filename"):
            await client.files.upload(b"data")
        with pytest.raises(amas.InvalidRequestError, match="quote or a line break"):
            await client.files.upload(b"data", filename='a"\r\nX-Evil: 1.txt')
        with pytest.raises(amas.InputFileNotFoundError):
            await client.files.upload("no-such-file.pdf")
    assert api.calls == []


async def test_files_get_reads_processing_info() -> None:
    api = MockAPI()
    api.get(f"{BASE}/files/file_123/", json=FILE)
    async with api.client() as client:
        f = await client.files.get("file_123")
    assert f.processing_info == {"pages_extracted": 45, "text_length": 12500}
    assert f.raw == FILE


# ---- collections ---------------------------------------------------------------------------------


async def test_collections_create_and_add_files_send_the_documented_bodies() -> None:
    create = load("collections-create.request.json")
    add = load("collections-add-files.request.json")
    api = MockAPI()
    api.post(f"{BASE}/collections/", status=201, json=load("collections-create.response.json"))
    api.post(
        f"{BASE}/collections/coll_456/files/", json=load("collections-add-files.response.json")
    )
    async with api.client() as client:
        created = await client.collections.create(create["name"], description=create["description"])
        added = await client.collections.add_files(created.id, add["file_ids"])
    first, second = api.calls
    assert sent_json(first) == create
    assert sent_json(second) == add
    assert created.status == "pending"
    assert created.progress == 0
    assert (added.success, added.added, added.failed) == (True, 3, 0)
    assert [r["file_id"] for r in added.results] == add["file_ids"]


async def test_collections_get_reads_datasources() -> None:
    api = MockAPI()
    api.get(f"{BASE}/collections/coll_123/", json=COLLECTION)
    async with api.client() as client:
        collection = await client.collections.get("coll_123")
    assert collection.datasources is not None
    (source,) = collection.datasources
    assert (source.data_source, source.data_source_name, source.data_source_size) == (
        "file_123",
        "manual.pdf",
        3495253,
    )


async def test_collections_create_without_description_sends_only_the_name() -> None:
    api = MockAPI()
    api.post(f"{BASE}/collections/", json=load("collections-create.response.json"))
    async with api.client() as client:
        await client.collections.create("Docs")
        with pytest.raises(amas.InvalidRequestError, match="name"):
            await client.collections.create("  ")
        with pytest.raises(amas.InvalidRequestError, match="file_ids"):
            await client.collections.add_files("coll_1", "file_1")
        with pytest.raises(amas.InvalidRequestError, match="at least one"):
            await client.collections.add_files("coll_1", [])
    assert sent_json(api.only_call()) == {"name": "Docs"}


# ---- knowledge bases -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["recursive", "hierarchical", "fixed"])
async def test_kb_create_sends_the_documented_chunking_bodies(kind: str) -> None:
    chunking = load(f"knowledge-bases-chunking-{kind}.json")
    strategy = getattr(amas.ChunkingStrategy, kind)()
    api = MockAPI()
    api.post(f"{BASE}/knowledge-bases/", status=201, json=KB)
    async with api.client() as client:
        kb = await client.knowledge_bases.create(
            "Support KB",
            selected_collections=["coll_123"],
            chunking_strategy=strategy,
            embedding_config=amas.EmbeddingConfig(
                provider="mistral", model="mistral-embed", dimensions=1024
            ),
        )
    sent = sent_json(api.only_call())
    assert sent == {
        "name": "Support KB",
        "processing_engine": "milvus",
        "selected_collections": ["coll_123"],
        **chunking,
        "embedding_config": {"provider": "mistral", "model": "mistral-embed", "dimensions": 1024},
    }
    assert list(sent["chunking_strategy"]) == list(chunking["chunking_strategy"])
    assert kb.id == "kb_123"


async def test_kb_create_sends_every_option_when_given() -> None:
    api = MockAPI()
    api.post(f"{BASE}/knowledge-bases/", json=KB)
    async with api.client() as client:
        await client.knowledge_bases.create(
            "KB",
            description="d",
            selected_datasources=["file_1"],
            save_as_collection=True,
            new_collection_name="New",
            new_collection_description="nd",
        )
    assert sent_json(api.only_call()) == {
        "name": "KB",
        "description": "d",
        "processing_engine": "milvus",
        "selected_datasources": ["file_1"],
        "save_as_collection": True,
        "new_collection_name": "New",
        "new_collection_description": "nd",
    }


async def test_kb_create_sends_the_documented_legacy_body() -> None:
    request = load("knowledge-bases-create-legacy.request.json")
    api = MockAPI()
    api.post(f"{BASE}/knowledge-bases/", json=load("knowledge-bases-get-legacy.response.json"))
    async with api.client() as client:
        kb = await client.knowledge_bases.create(
            request["name"],
            description=request["description"],
            processing_engine=request["processing_engine"],
            collections=request["collections"],
        )
    assert sent_json(api.only_call()) == request
    assert kb.collection_count == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "at least one of selected_collections or selected_datasources"),
        ({"selected_collections": ["a"], "collections": ["b"]}, "not both"),
        ({"selected_collections": "coll_1"}, "selected_collections must be a list"),
        ({"selected_collections": ["c"], "save_as_collection": True}, "new_collection_name"),
        ({"selected_collections": ["c"], "new_collection_name": "x"}, "save_as_collection=True"),
        ({"selected_collections": ["c"], "chunking_strategy": "recursive"}, "ChunkingStrategy"),
    ],
)
async def test_kb_create_checks_locally(kwargs: dict[str, Any], message: str) -> None:
    api = MockAPI()
    async with api.client() as client:
        with pytest.raises(amas.AmasError, match=message):
            await client.knowledge_bases.create("KB", **kwargs)
    assert api.calls == []


async def test_kb_update_patches_documented_fields_only() -> None:
    request = load("knowledge-bases-update.request.json")
    api = MockAPI()
    api.add("PATCH", f"{BASE}/knowledge-bases/kb_123/", json={**KB, **request})
    async with api.client() as client:
        kb = await client.knowledge_bases.update("kb_123", **request)
        with pytest.raises(amas.InvalidRequestError, match="cannot update nmae"):
            await client.knowledge_bases.update("kb_123", nmae="typo")
        with pytest.raises(amas.InvalidRequestError, match="at least one field"):
            await client.knowledge_bases.update("kb_123")
    call = api.only_call()
    assert call.method == "PATCH"
    assert sent_json(call) == request
    assert kb.name == request["name"]


async def test_kb_get_reads_both_documented_shapes() -> None:
    legacy = load("knowledge-bases-get-legacy.response.json")
    api = MockAPI()
    api.get(f"{BASE}/knowledge-bases/kb_123/", json=KB)
    api.get(f"{BASE}/knowledge-bases/kb_123/", json=legacy)
    async with api.client() as client:
        current = await client.knowledge_bases.get("kb_123")
        old = await client.knowledge_bases.get("kb_123")
    assert current.embedding_config == KB["embedding_config"]
    assert old.collection_count == 2
    assert old.raw == legacy


async def test_check_status_reads_the_current_answer() -> None:
    api = MockAPI()
    api.get(
        f"{BASE}/knowledge-bases/kb_123/check_status/",
        json=load("knowledge-bases-check-status.response.json"),
    )
    async with api.client() as client:
        status = await client.knowledge_bases.check_status("kb_123")
    assert (status.status, status.progress, status.failed_count) == ("running", 45, 0)


async def test_check_status_falls_back_to_the_older_path_on_404_and_remembers() -> None:
    legacy = load("knowledge-bases-status-legacy.response.json")
    api = MockAPI()
    api.get(
        f"{BASE}/knowledge-bases/kb_123/check_status/", status=404, json={"detail": "Not found."}
    )
    api.get(f"{BASE}/knowledge-bases/kb_123/status/", json=legacy, repeat=True)
    async with api.client() as client:
        first = await client.knowledge_bases.check_status("kb_123")
        second = await client.knowledge_bases.check_status("kb_123")
    assert first.status == second.status == "completed"
    assert first.failed_count == 0
    assert first.processed_datasources == 15
    assert [c.url.rsplit("/", 2)[-2] for c in api.calls] == ["check_status", "status", "status"]


async def test_check_status_of_an_unknown_kb_raises_the_first_404() -> None:
    api = MockAPI()
    api.get(f"{BASE}/knowledge-bases/nope/check_status/", status=404, json={"detail": "a"})
    api.get(f"{BASE}/knowledge-bases/nope/status/", status=404, json={"detail": "b"})
    async with api.client() as client:
        with pytest.raises(amas.NotFoundError, match="a"):
            await client.knowledge_bases.check_status("nope")


def _status(state: str, progress: int) -> dict[str, Any]:
    body: dict[str, Any] = load("knowledge-bases-check-status.response.json")
    body["knowledge_base"] = {**body["knowledge_base"], "status": state, "progress": progress}
    return body


async def test_kb_wait_polls_until_completed_then_reads_the_kb() -> None:
    api = MockAPI()
    url = f"{BASE}/knowledge-bases/kb_123/check_status/"
    for state, progress in [("pending", 0), ("running", 45), ("completed", 100)]:
        api.get(url, json=_status(state, progress))
    api.get(f"{BASE}/knowledge-bases/kb_123/", json=KB)
    seen: list[float | None] = []
    with instant_retries() as fake_clock:
        async with api.client() as client:
            kb = await client.knowledge_bases.wait(
                "kb_123", poll_interval=5, on_poll=lambda s: seen.append(s.progress)
            )
    assert kb.status == "completed"
    assert seen == [0, 45, 100]
    assert fake_clock.sleeps == [5, 5]


async def test_kb_wait_raises_on_failed_and_on_timeout() -> None:
    api = MockAPI()
    url = f"{BASE}/knowledge-bases/kb_123/check_status/"
    api.get(url, json=_status("failed", 45))
    api.get(url, json=_status("running", 45), repeat=True)
    with instant_retries() as fake_clock:
        async with api.client() as client:
            with pytest.raises(amas.ProcessingError) as failed:
                await client.knowledge_bases.wait("kb_123")
            with pytest.raises(amas.WaitTimeoutError) as late:
                await client.knowledge_bases.wait("kb_123", timeout=10, poll_interval=3)
    assert failed.value.status == "failed"
    assert failed.value.result.progress == 45
    assert late.value.status == "running"
    assert isinstance(late.value, TimeoutError)
    # The fake clock also counts real time, so only the bounds are exact: no sleep longer
    # than the interval, none past the timeout.
    assert fake_clock.sleeps[0] == 3
    assert all(0 < s <= 3 for s in fake_clock.sleeps)
    assert sum(fake_clock.sleeps) <= 10


async def test_files_wait_until_active_or_error() -> None:
    api = MockAPI()
    url = f"{BASE}/files/file_123/"
    api.get(url, json={**FILE, "status": "uploading"})
    api.get(url, json=FILE)
    api.get(url, json={**FILE, "status": "error"})
    with instant_retries():
        async with api.client() as client:
            ready = await client.files.wait("file_123")
            with pytest.raises(amas.ProcessingError, match="error"):
                await client.files.wait("file_123")
    assert ready.status == "active"


# ---- retry safety: what is retried where it may have run -----------------------------------------


Call = Callable[[amas.AsyncAmas], Awaitable[object]]
CREATES: dict[str, tuple[str, str, Call]] = {
    "agents.create": (
        "POST",
        "/agent/",
        lambda c: c.agents.create({"name": "A", "agent_type": "llm_agent"}),
    ),
    "files.upload": ("POST", "/files/", lambda c: c.files.upload(b"x", filename="a.txt")),
    "collections.create": ("POST", "/collections/", lambda c: c.collections.create("C")),
    "collections.add_files": (
        "POST",
        "/collections/c1/files/",
        lambda c: c.collections.add_files("c1", ["f1"]),
    ),
    "knowledge_bases.create": (
        "POST",
        "/knowledge-bases/",
        lambda c: c.knowledge_bases.create("K", selected_collections=["c1"]),
    ),
}
IDEMPOTENT: dict[str, tuple[str, str, Call]] = {
    "agents.get": ("GET", f"/agent/{AGENT_ID}/", lambda c: c.agents.get(AGENT_ID)),
    "agents.update": (
        "PATCH",
        f"/agent/{AGENT_ID}/",
        lambda c: c.agents.update(AGENT_ID, {"x": 1}),
    ),
    "agents.delete": ("DELETE", f"/agent/{AGENT_ID}/", lambda c: c.agents.delete(AGENT_ID)),
    "files.list": ("GET", "/files/", lambda c: c.files.list()),
    "knowledge_bases.update": (
        "PATCH",
        "/knowledge-bases/k1/",
        lambda c: c.knowledge_bases.update("k1", name="n"),
    ),
    "agents.validate": ("POST", "/agent/validate/", lambda c: c.agents.validate({"name": "A"})),
}


@pytest.mark.parametrize("name", list(CREATES))
async def test_creating_is_not_retried_where_it_may_have_run(name: str) -> None:
    method, path, call = CREATES[name]
    api = MockAPI()
    api.add(method, f"{BASE}{path}", status=500, json={"detail": "boom"})
    with instant_retries():
        async with api.client() as client:
            with pytest.raises(amas.InternalServerError) as info:
                await call(client)
    assert info.value.attempts == 1
    assert len(api.calls) == 1


@pytest.mark.parametrize("name", list(CREATES))
async def test_creating_is_retried_where_it_cannot_have_run_with_the_same_key(name: str) -> None:
    method, path, call = CREATES[name]
    api = MockAPI()
    api.add(method, f"{BASE}{path}", status=503, json={"detail": "busy"})
    api.add(method, f"{BASE}{path}", status=429, json={"detail": "slow"})
    api.add(method, f"{BASE}{path}", status=500, json={"detail": "boom"})
    with instant_retries():
        async with api.client(max_retries=5) as client:
            with pytest.raises(amas.InternalServerError) as info:
                await call(client)
    assert info.value.attempts == 3
    keys = {headers_of(c)["Idempotency-Key"] for c in api.calls}
    assert len(keys) == 1


@pytest.mark.parametrize("name", list(CREATES))
async def test_creating_is_retried_on_500_when_the_policy_says_so(name: str) -> None:
    method, path, call = CREATES[name]
    api = MockAPI()
    api.add(method, f"{BASE}{path}", status=500, json={"detail": "boom"}, repeat=True)
    policy = amas.RetryPolicy(max_attempts=2, retry_non_idempotent=True, initial_backoff=0)
    async with api.client(retry=policy) as client:
        with pytest.raises(amas.InternalServerError) as info:
            await call(client)
    assert info.value.attempts == 2


@pytest.mark.parametrize("name", list(IDEMPOTENT))
async def test_reads_updates_and_deletes_are_retried_on_500(name: str) -> None:
    method, path, call = IDEMPOTENT[name]
    api = MockAPI()
    api.add(method, f"{BASE}{path}", status=500, json={"detail": "boom"}, repeat=True)
    with instant_retries():
        async with api.client() as client:
            with pytest.raises(amas.InternalServerError) as info:
                await call(client)
    assert info.value.attempts == 3
    assert len(api.calls) == 3

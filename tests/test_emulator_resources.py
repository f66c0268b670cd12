"""The emulator's agent store, files, collections and knowledge bases, over raw HTTP.

Driven with a plain aiohttp client (not the SDK), compared with the documented example bodies
in tests/data/examples. Processing never sleeps: the tests hold it and drive it with the
emulator's controls, or make it instant.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from rawhttp import RawApi

from amas_async.models import SessionConfig
from amas_async.testing import Emulator, RegisteredAgent, StoredFile

EXAMPLES = Path(__file__).parent / "data" / "examples"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
HEX12 = re.compile(r"^[0-9a-f]{12}$")
PDF = b"%PDF-1.4\n" + b"word " * 700
NOT_FOUND = "not_found_error"
INVALID = "invalid_request_error"


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def keys(name: str) -> set[str]:
    data = example(name)
    return set(data[0] if isinstance(data, list) else data)


INLINE = {
    "name": "Support Team",
    "save_messages": True,
    "agents": [
        {"name": "triage", "agent_type": "llm_agent", "system_prompt": "Sort"},
        {"name": "helper", "agent_type": "react_agent", "system_prompt": "Help"},
    ],
    "edges": [
        {"from": "__start__", "to": "triage"},
        {"from": "triage", "to": "helper"},
        {"from": "helper", "to": "__end__"},
    ],
    "entry_point": "triage",
}


# ---- helpers --------------------------------------------------------------------------------


class Api(RawApi):
    async def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        reply = await self.call(method, path, **kwargs)
        assert reply.status == status, reply.raw
        return reply.body

    async def error(self, method: str, path: str, status: int, **kwargs: Any) -> dict[str, Any]:
        reply = await self.call(method, path, **kwargs)
        assert reply.status == status, reply.raw
        assert set(reply.body) == {"error"}
        error: dict[str, Any] = reply.body["error"]
        assert error["message"]
        return error

    async def create_agent(self, config: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = await self.ok(
            "POST", "/agent/", 201, json_body={"system_config": config}
        )
        return body

    async def upload(
        self,
        data: bytes = PDF,
        filename: str = "manual.pdf",
        *,
        tags: Sequence[str] = (),
        content_type: str | None = None,
    ) -> dict[str, Any]:
        form = aiohttp.FormData()
        form.add_field("file", data, filename=filename, content_type=content_type)
        for value in tags:
            form.add_field("tags", value)
        body: dict[str, Any] = await self.ok("POST", "/files/", 201, data=form)
        return body

    async def collection(self, name: str = "Docs", *file_ids: str) -> str:
        created = await self.ok("POST", "/collections/", 201, json_body={"name": name})
        if file_ids:
            await self.ok(
                "POST", f"/collections/{created['id']}/files/", json_body={"file_ids": file_ids}
            )
        collection_id: str = created["id"]
        return collection_id

    async def kb(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "Product KB", "processing_engine": "milvus", **fields}
        created: dict[str, Any] = await self.ok("POST", "/knowledge-bases/", 201, json_body=body)
        return created


@pytest.fixture
async def api(amas_emulator: Emulator) -> AsyncIterator[Api]:
    amas_emulator.hold_processing()  # nothing moves unless a test says so
    async with aiohttp.ClientSession() as http:
        yield Api(amas_emulator, http)


@pytest.fixture
async def make_api() -> AsyncIterator[Any]:
    """An Api on an emulator made with the given settings (stopped after the test)."""
    emulators: list[Emulator] = []
    async with aiohttp.ClientSession() as http:

        async def make(**settings: Any) -> Api:
            emu = Emulator(**settings)
            await emu.start()
            emulators.append(emu)
            return Api(emu, http)

        try:
            yield make
        finally:
            for emu in emulators:
                await emu.stop()


# ---- agents ---------------------------------------------------------------------------------


async def test_create_agent_documented_shape(api: Api) -> None:
    request = example("agents-create.request.json")
    reply = await api.call("POST", "/agent/", json_body=request)
    assert reply.status == 201, reply.raw
    agent = reply.body
    assert set(agent) == keys("agents-create.response.json")
    assert list(agent) == list(example("agents-create.response.json"))
    uuid.UUID(agent["id"])
    assert agent["agent_key"] == "support_agent"
    assert agent["name"] == "Support Agent"
    assert agent["architecture"] == "llm_agent"
    assert agent["entry_point"] == "main"
    assert (agent["is_public"], agent["is_shared"], agent["origin_url"]) == (False, False, None)
    assert isinstance(agent["owner"], str)
    assert isinstance(agent["company"], str)
    assert agent["system_config"] == request["system_config"]
    assert list(agent["system_config"]) == list(request["system_config"])  # order kept
    assert agent["version_number"] == "1.0.0"
    assert HEX12.match(agent["config_hash"])
    assert ISO_Z.match(agent["created_at"])
    assert agent["updated_at"] == agent["created_at"]

    listed = await api.ok("GET", "/agent/")
    assert isinstance(listed, list)
    assert listed == [agent]
    assert set(listed[0]) == keys("agents-list.response.json")
    got = await api.ok("GET", f"/agent/{agent['id']}/")
    assert set(got) == keys("agents-get.response.json")
    assert got == agent
    assert [a.id for a in api.amas_emulator.agents] == [agent["id"]]


async def test_multi_agent_config_and_settings(api: Api) -> None:
    body = {"system_config": INLINE, "is_public": True, "origin_url": "https://example.com"}
    agent = await api.ok("POST", "/agent/", 201, json_body=body)
    assert agent["agent_key"] == "support_team"
    assert agent["architecture"] == "workflow"
    assert agent["entry_point"] == "triage"
    assert agent["is_public"] is True
    assert agent["origin_url"] == "https://example.com"
    supervisor = {**INLINE, "name": "Sup", "architecture": "supervisor"}
    supervisor.pop("entry_point")
    assert (await api.create_agent(supervisor))["architecture"] == "supervisor"


async def test_create_agent_from_yaml(api: Api) -> None:
    yaml_text = b"""
system_config:
  name: YAML Agent
  description: 2025-01-15
  save_messages: yes
  agent_type: llm_agent
  system_prompt: Hi
"""
    reply = await api.call(
        "POST", "/agent/", data=yaml_text, headers={"Content-Type": "application/yaml"}
    )
    assert reply.status == 201, reply.raw
    config = reply.body["system_config"]
    assert config["description"] == "2025-01-15"
    assert config["save_messages"] is True
    assert reply.body["agent_key"] == "yaml_agent"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "system_config"),
        ({"system_config": "name: x"}, "system_config"),
        ({"system_config": {"agent_type": "llm_agent"}}, "system_config.name"),
        ({"system_config": {"name": "x", "agent_type": "robot"}}, "system_config.agent_type"),
        (
            {"system_config": {"name": "x", "agents": [{"name": "a", "agent_type": "robot"}]}},
            "system_config.agents.0.agent_type",
        ),
        (
            {"system_config": {"name": "x", "agent_type": "llm_agent", "llm_config": {"model": 1}}},
            "system_config.llm_config.model",
        ),
        ({"system_config": {"name": "x", "agent_type": "llm_agent"}, "is_public": 1}, "is_public"),
    ],
)
async def test_create_agent_validation(api: Api, body: Any, field: str) -> None:
    error = await api.error("POST", "/agent/", 400, json_body=body)
    assert error["type"] == INVALID
    assert error["field"] == field
    assert api.amas_emulator.agents == []


async def test_same_agent_key_twice_is_a_conflict(api: Api) -> None:
    first = await api.create_agent({"name": "Support Agent", "agent_type": "llm_agent"})
    error = await api.error(
        "POST",
        "/agent/",
        409,
        json_body={"system_config": {"name": "support  agent!", "agent_type": "react_agent"}},
    )
    assert error["type"] == "conflict_error"
    assert first["id"] in error["message"]
    assert len(await api.ok("GET", "/agent/")) == 1


async def test_patch_deep_merges_and_bumps_version(api: Api) -> None:
    created = await api.create_agent(example("agents-create.request.json")["system_config"])
    path = f"/agent/{created['id']}/"
    patch = example("agents-update.request.json")
    updated = await api.ok("PATCH", path, json_body=patch)
    assert set(updated) == set(created)
    assert updated["system_config"] == {
        "name": "Support Agent",
        "agent_type": "llm_agent",
        "system_prompt": "Updated system prompt...",
        "llm_config": {"model": "gpt-4o", "temperature": 0.8},
    }
    assert updated["config_hash"] != created["config_hash"]
    assert HEX12.match(updated["config_hash"])
    assert updated["version_number"] == "1.0.1"
    assert ISO_Z.match(updated["updated_at"])
    assert updated["updated_at"] >= created["updated_at"]
    assert (updated["id"], updated["agent_key"], updated["created_at"]) == (
        created["id"],
        created["agent_key"],
        created["created_at"],
    )
    assert await api.ok("GET", path) == updated

    again = await api.ok("PATCH", path, json_body=patch)  # same fields: nothing changes
    assert (again["config_hash"], again["version_number"]) == (updated["config_hash"], "1.0.1")

    renamed = await api.ok("PATCH", path, json_body={"system_config": {"name": "Renamed"}})
    assert (renamed["name"], renamed["agent_key"]) == ("Renamed", "support_agent")
    assert renamed["version_number"] == "1.0.2"
    shared = await api.ok("PATCH", path, json_body={"is_shared": True})
    assert shared["is_shared"] is True
    assert shared["config_hash"] == renamed["config_hash"]


async def test_patch_that_breaks_the_config_changes_nothing(api: Api) -> None:
    created = await api.create_agent({"name": "A", "agent_type": "llm_agent"})
    path = f"/agent/{created['id']}/"
    for body, field in [
        ({"system_config": {"agent_type": "robot"}}, "system_config.agent_type"),
        ({"system_config": {"name": None}}, "system_config.name"),
        ({"system_config": ["x"]}, "system_config"),
    ]:
        error = await api.error("PATCH", path, 400, json_body=body)
        assert error["field"] == field
    assert await api.ok("GET", path) == created


async def test_delete_agent_and_unknown_ids(api: Api) -> None:
    created = await api.create_agent({"name": "Gone", "agent_type": "llm_agent"})
    path = f"/agent/{created['id']}/"
    reply = await api.call("DELETE", path)
    assert reply.status == 204
    assert reply.raw == b""
    calls: list[tuple[str, dict[str, Any] | None]] = [
        ("GET", None),
        ("PATCH", {"system_config": {}}),
        ("DELETE", None),
    ]
    for method, body in calls:
        error = await api.error(method, path, 404, json_body=body)
        assert error == {"type": NOT_FOUND, "message": f"Agent not found: {created['id']}"}
    error = await api.error("GET", "/sessions/from-agent/", 404, params={"agent_key": "gone"})
    assert error["type"] == NOT_FOUND
    assert await api.ok("GET", "/agent/") == []
    assert (await api.call("DELETE", "/agent/")).status == 405


async def test_a_repeated_delete_with_the_same_idempotency_key_replays_204(api: Api) -> None:
    created = await api.create_agent({"name": "Once", "agent_type": "llm_agent"})
    headers = {"Idempotency-Key": "delete-1"}
    first = await api.call("DELETE", f"/agent/{created['id']}/", headers=headers)
    again = await api.call("DELETE", f"/agent/{created['id']}/", headers=headers)
    assert (first.status, first.raw) == (again.status, again.raw) == (204, b"")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


async def test_validate_documented_answers(api: Api) -> None:
    valid = await api.ok(
        "POST", "/agent/validate/", json_body=example("agent-validate.request.json")
    )
    assert valid == example("agent-validate-valid.response.json")
    bad = {**example("agent-validate.request.json"), "llm_config": {"model": ""}}
    invalid = await api.ok("POST", "/agent/validate/", json_body=bad)
    assert set(invalid) == keys("agent-validate-invalid.response.json")
    assert invalid["valid"] is False
    assert [e["field"] for e in invalid["errors"]] == ["llm_config.model"]
    assert set(invalid["errors"][0]) == {"field", "message"}
    assert "Invalid model specified" in invalid["errors"][0]["message"]

    multi = await api.ok("POST", "/agent/validate/", json_body={"name": "x", "agents": []})
    assert multi["errors"][0]["field"] == "agents"
    root = await api.ok("POST", "/agent/validate/", json_body=["not", "an", "object"])
    assert root["errors"][0]["field"] == "non_field_errors"
    yaml_text = b"name: Y\nagent_type: llm_agent\ndescription: 2025-01-15\nsave_messages: yes\n"
    reply = await api.call(
        "POST", "/agent/validate/", data=yaml_text, headers={"Content-Type": "application/yaml"}
    )
    assert reply.status == 200
    assert reply.body == {"valid": True, "message": "Configuration is valid"}
    error = await api.error("POST", "/agent/validate/", 400, data=b"{oops")
    assert error["type"] == INVALID
    assert api.amas_emulator.agents == []  # validating saves nothing


@pytest.mark.parametrize("status", [400, 422])
async def test_validate_invalid_status_is_a_setting(make_api: Any, status: int) -> None:
    api = await make_api(validate_invalid_status=status)
    reply = await api.call("POST", "/agent/validate/", json_body={"agent_type": "llm_agent"})
    assert reply.status == status
    assert reply.body == {
        "valid": False,
        "errors": [{"field": "name", "message": reply.body["errors"][0]["message"]}],
    }
    valid = await api.call(
        "POST", "/agent/validate/", json_body={"name": "n", "agent_type": "llm_agent"}
    )
    assert valid.status == 200


def test_settings_are_checked() -> None:
    for settings, match in (
        ({"validate_invalid_status": 500}, "validate_invalid_status"),
        ({"kb_status_paths": ()}, "kb_status_paths"),
        ({"kb_status_paths": ("state",)}, "kb_status_paths"),
        ({"kb_status_paths": "status"}, "kb_status_paths"),
        ({"page_size": 0}, "page_size"),
        ({"processing_seconds": -1.0}, "processing_seconds"),
    ):
        with pytest.raises(ValueError, match=match):
            Emulator(**settings)


# ---- register_agent and from-agent ----------------------------------------------------------


class ConfigLike:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        return self.data


async def test_register_agent_takes_mappings_and_to_dict_objects(api: Api) -> None:
    from_mapping = api.amas_emulator.register_agent({"name": "Mapped", "agent_type": "llm_agent"})
    from_object = api.amas_emulator.register_agent(
        ConfigLike({"name": "Duck", "agent_type": "llm_agent"})
    )
    config = SessionConfig(name="Support Agent", agent_type="llm_agent", system_prompt="Hi")
    from_model = api.amas_emulator.register_agent(config)
    assert isinstance(from_model, RegisteredAgent)
    assert (from_model.key, from_model.agent_key) == ("support_agent", "support_agent")
    assert from_model.config == config.to_dict()
    assert HEX12.match(from_model.config_hash)
    assert from_model.version_number == "1.0.0"

    listed = await api.ok("GET", "/agent/")
    assert [a["agent_key"] for a in listed] == ["mapped", "duck", "support_agent"]
    got = await api.ok("GET", f"/agent/{from_object.id}/")
    assert got["system_config"] == {"name": "Duck", "agent_type": "llm_agent"}

    replaced = api.amas_emulator.register_agent({"name": "Mapped", "agent_type": "react_agent"})
    assert [a.key for a in api.amas_emulator.agents] == ["duck", "support_agent", "mapped"]
    assert replaced.id != from_mapping.id
    with pytest.raises(TypeError, match="to_dict"):
        api.amas_emulator.register_agent(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="agent_type"):
        api.amas_emulator.register_agent({"name": "x", "agent_type": "robot"})


async def test_sessions_from_agents_created_over_http(api: Api) -> None:
    created = await api.create_agent(
        {"name": "Helper", "agent_type": "llm_agent", "system_prompt": "P"}
    )
    by_key = await api.ok("GET", "/sessions/from-agent/", params={"agent_key": "helper"})
    assert by_key["agent_id"] == created["id"]
    assert by_key["agent_name"] == "Helper"
    by_id = await api.ok("POST", f"/sessions/from-agent/{created['id']}/")
    assert by_id["agent_id"] == created["id"]

    await api.ok(
        "PATCH", f"/agent/{created['id']}/", json_body={"system_config": {"system_prompt": "Q"}}
    )
    newer = await api.ok("GET", "/sessions/from-agent/", params={"agent_key": "helper"})
    for session_id, prompt in [(by_key["session_id"], "P"), (newer["session_id"], "Q")]:
        turn = await api.ok("POST", f"/runtime/{session_id}/execute/", json_body={"content": "hi"})
        assert turn["messages"][0]["content"] == f"[Helper] {prompt} | hi"
    assert api.amas_emulator.session_state(newer["session_id"]).agent_id == created["id"]


# ---- files ----------------------------------------------------------------------------------


async def test_upload_documented_shape_and_bytes(api: Api) -> None:
    uploaded = await api.upload(tags=["manual,product"])
    assert set(uploaded) == keys("files-upload.response.json")
    assert list(uploaded) == list(example("files-upload.response.json"))
    uuid.UUID(uploaded["id"])
    assert uploaded["original_filename"] == "manual.pdf"
    assert uploaded["file_type"] == "document"
    assert uploaded["size_bytes"] == len(PDF)
    assert uploaded["status"] == "uploading"
    assert uploaded["tags"] == ["manual", "product"]
    assert ISO_Z.match(uploaded["created_at"])
    stored = api.amas_emulator.files[uploaded["id"]]
    assert isinstance(stored, StoredFile)
    assert (stored.data, stored.size, stored.tags) == (PDF, len(PDF), ("manual", "product"))
    assert stored.media_type == "application/pdf"


async def test_file_processing_to_active(api: Api) -> None:
    uploaded = await api.upload()
    path = f"/files/{uploaded['id']}/"
    pending = await api.ok("GET", path)
    assert set(pending) == keys("files-get.response.json")
    assert pending["status"] == "uploading"
    assert pending["processing_info"] is None
    api.amas_emulator.advance_processing(uploaded["id"], 60)
    assert (await api.ok("GET", path))["status"] == "uploading"
    api.amas_emulator.finish_processing(uploaded["id"])
    active = await api.ok("GET", path)
    assert set(active) == keys("files-get.response.json")
    assert active["status"] == "active"
    assert ISO_Z.match(active["updated_at"])
    text = PDF.decode()
    assert active["processing_info"] == {"pages_extracted": 2, "text_length": len(text)}
    listed = await api.ok("GET", "/files/")
    assert [set(item) for item in listed] == [keys("files-list.response.json")]
    assert listed[0]["status"] == "active"


async def test_failed_file_processing(api: Api) -> None:
    uploaded = await api.upload()
    api.amas_emulator.fail_processing(uploaded["id"], "Could not read the PDF")
    got = await api.ok("GET", f"/files/{uploaded['id']}/")
    assert got["status"] == "error"
    assert got["error_message"] == "Could not read the PDF"
    assert [f["id"] for f in await api.ok("GET", "/files/", params={"status": "error"})] == [
        uploaded["id"]
    ]


@pytest.mark.parametrize(
    ("filename", "content_type", "file_type"),
    [
        ("manual.pdf", None, "document"),
        ("notes.TXT", None, "document"),
        ("deck.pptx", None, "document"),
        ("photo.jpeg", None, "image"),
        ("clip.mp4", None, "video"),
        ("song.mp3", None, "audio"),
        ("bundle.tar.gz", None, "archive"),
        ("main.py", None, "code"),
        ("table.csv", None, "data"),
        ("sheet.xlsx", None, "data"),
        ("noext", "image/png", "image"),
        ("noext", "text/plain", "document"),
        ("blob.bin", "application/octet-stream", "other"),
    ],
)
async def test_file_types(
    api: Api, filename: str, content_type: str | None, file_type: str
) -> None:
    uploaded = await api.upload(b"data", filename, content_type=content_type)
    assert uploaded["file_type"] == file_type


async def test_tags_comma_separated_repeated_or_json(api: Api) -> None:
    assert (await api.upload(tags=["a", "b, c", "a"]))["tags"] == ["a", "b", "c"]
    assert (await api.upload(tags=['["x", "y"]']))["tags"] == ["x", "y"]
    assert (await api.upload())["tags"] == []


async def test_upload_errors(api: Api, make_api: Any) -> None:
    form = aiohttp.FormData()
    form.add_field("document", b"x", filename="a.pdf")
    error = await api.error("POST", "/files/", 400, data=form)
    assert (error["type"], error["field"]) == (INVALID, "file")
    error = await api.error("POST", "/files/", 400, json_body={"file": "a.pdf"})
    assert error["field"] == "file"
    form = aiohttp.FormData()
    form.add_field("file", b"", filename="empty.pdf")
    assert (await api.error("POST", "/files/", 400, data=form))["field"] == "file"
    error = await api.error("GET", "/files/nope/", 404)
    assert error == {"type": NOT_FOUND, "message": "File not found: nope"}
    assert (await api.call("DELETE", "/files/nope/")).status == 404

    small = await make_api(max_upload_bytes=10)
    error = await small.error("POST", "/files/", 413, data={"file": io_file(b"x" * 11)})
    assert error["field"] == "file"
    assert small.amas_emulator.files == {}


def io_file(data: bytes) -> Any:
    buffer = io.BytesIO(data)
    buffer.name = "big.txt"
    return buffer


async def test_file_list_filters(api: Api) -> None:
    manual = await api.upload(filename="Product_Manual.pdf", tags=["manual,product"])
    guide = await api.upload(filename="guide.pdf", tags=["manual"])
    photo = await api.upload(b"img", "photo.png", tags=["product"])
    api.amas_emulator.finish_processing(manual["id"])

    async def ids(**params: Any) -> list[str]:
        listed = await api.ok("GET", "/files/", params=params)
        return [item["id"] for item in listed]

    assert await ids() == [manual["id"], guide["id"], photo["id"]]
    assert await ids(file_type="image") == [photo["id"]]
    assert await ids(status="active") == [manual["id"]]
    assert await ids(status="uploading") == [guide["id"], photo["id"]]
    assert await ids(search="MANUAL") == [manual["id"]]
    assert await ids(search=".pdf") == [manual["id"], guide["id"]]
    assert await ids(tags="manual") == [manual["id"], guide["id"]]
    both = await api.ok("GET", "/files/", params=[("tags", "manual"), ("tags", "product")])
    assert [item["id"] for item in both] == [manual["id"]]
    assert api.amas_emulator.requests[-1].query_values("tags") == ["manual", "product"]
    assert await ids(tags="manual,product") == [manual["id"]]
    assert await ids(tags="nothing") == []
    for params, field in [
        ({"file_type": "spreadsheet"}, "file_type"),
        ({"status": "gone"}, "status"),
        ({"include_deleted": "maybe"}, "include_deleted"),
    ]:
        assert (await api.error("GET", "/files/", 400, params=params))["field"] == field


async def test_delete_is_a_soft_delete(api: Api) -> None:
    kept = await api.upload(filename="kept.pdf")
    gone = await api.upload(filename="gone.pdf")
    reply = await api.call("DELETE", f"/files/{gone['id']}/")
    assert reply.status == 204
    assert reply.raw == b""
    assert [f["id"] for f in await api.ok("GET", "/files/")] == [kept["id"]]
    with_deleted = await api.ok("GET", "/files/", params={"include_deleted": "true"})
    assert [(f["id"], f["status"]) for f in with_deleted] == [
        (kept["id"], "uploading"),
        (gone["id"], "deleted"),
    ]
    deleted_only = await api.ok("GET", "/files/", params={"status": "deleted"})
    assert [f["id"] for f in deleted_only] == [gone["id"]]
    assert (await api.ok("GET", f"/files/{gone['id']}/"))["status"] == "deleted"
    api.amas_emulator.finish_processing(gone["id"])
    assert (await api.ok("GET", f"/files/{gone['id']}/"))["status"] == "deleted"
    assert (await api.call("DELETE", f"/files/{gone['id']}/")).status == 204
    assert gone["id"] in api.amas_emulator.files


# ---- collections ----------------------------------------------------------------------------


async def test_collection_documented_shapes(api: Api) -> None:
    request = example("collections-create.request.json")
    created = await api.ok("POST", "/collections/", 201, json_body=request)
    assert set(created) == keys("collections-create.response.json")
    assert list(created) == list(example("collections-create.response.json"))
    assert {k: created[k] for k in ("name", "description", "status", "progress")} == {
        **request,
        "status": "pending",
        "progress": 0,
    }
    assert (created["data_source_count"], created["total_size"]) == (0, 0)
    uuid.UUID(created["id"])
    listed = await api.ok("GET", "/collections/")
    assert [set(item) for item in listed] == [keys("collections-list.response.json")]
    got = await api.ok("GET", f"/collections/{created['id']}/")
    assert set(got) == keys("collections-get.response.json")
    assert got["datasources"] == []
    bare = await api.ok("POST", "/collections/", 201, json_body={"name": "No description"})
    assert bare["description"] == ""


async def test_add_files_and_progress(api: Api) -> None:
    files = [await api.upload(filename=f"f{i}.pdf") for i in range(3)]
    collection_id = await api.collection()
    ids = [f["id"] for f in files]
    added = await api.ok(
        "POST", f"/collections/{collection_id}/files/", json_body={"file_ids": ids}
    )
    documented = example("collections-add-files.response.json")
    assert set(added) == set(documented)
    assert added == {
        "success": True,
        "added": 3,
        "failed": 0,
        "results": [{"file_id": file_id, "status": "added"} for file_id in ids],
    }
    path = f"/collections/{collection_id}/"
    got = await api.ok("GET", path)
    assert (got["status"], got["progress"]) == ("pending", 0)
    assert got["data_source_count"] == 3
    assert got["total_size"] == 3 * len(PDF)
    datasource_keys = set(example("collections-get.response.json")["datasources"][0])
    assert [set(ds) for ds in got["datasources"]] == [datasource_keys] * 3
    first = got["datasources"][0]
    assert first["data_source"] == ids[0]
    assert (first["data_source_name"], first["data_source_type"]) == ("f0.pdf", "document")
    assert first["data_source_size"] == len(PDF)

    api.amas_emulator.advance_processing(collection_id, 40)
    assert {k: (await api.ok("GET", path))[k] for k in ("status", "progress")} == {
        "status": "running",
        "progress": 40,
    }
    api.amas_emulator.finish_processing(collection_id)
    done = await api.ok("GET", path)
    assert (done["status"], done["progress"]) == ("completed", 100)
    listed = await api.ok("GET", "/collections/", params={"status": "completed"})
    assert [c["id"] for c in listed] == [collection_id]


async def test_add_files_reports_failed_entries(api: Api) -> None:
    good = await api.upload()
    deleted = await api.upload()
    await api.call("DELETE", f"/files/{deleted['id']}/")
    collection_id = await api.collection("C", good["id"])
    ids = [good["id"], "missing", deleted["id"], good["id"]]
    result = await api.ok(
        "POST", f"/collections/{collection_id}/files/", json_body={"file_ids": ids}
    )
    assert (result["success"], result["added"], result["failed"]) == (False, 0, 4)
    assert [set(r) for r in result["results"]] == [{"file_id", "status", "error"}] * 4
    assert [r["status"] for r in result["results"]] == ["failed"] * 4
    assert [r["file_id"] for r in result["results"]] == ids
    assert "missing" in result["results"][1]["error"]

    for body, field in [({"file_ids": []}, "file_ids"), ({"file_ids": [1]}, "file_ids.0")]:
        error = await api.error("POST", f"/collections/{collection_id}/files/", 400, json_body=body)
        assert error["field"] == field
    error = await api.error("POST", "/collections/nope/files/", 404, json_body={"file_ids": ["x"]})
    assert error == {"type": NOT_FOUND, "message": "Collection not found: nope"}
    assert (await api.error("GET", "/collections/nope/", 404))["type"] == NOT_FOUND
    for body in ({}, {"name": ""}, {"name": "x", "description": 3}):
        assert (await api.error("POST", "/collections/", 400, json_body=body))["type"] == INVALID


async def test_collection_filters_and_failure(api: Api) -> None:
    product = await api.collection("Product Docs")
    other = await api.collection("Other", (await api.upload())["id"])
    described = await api.ok(
        "POST", "/collections/", 201, json_body={"name": "X", "description": "all PRODUCT guides"}
    )

    async def ids(**params: str) -> list[str]:
        return [c["id"] for c in await api.ok("GET", "/collections/", params=params)]

    assert await ids(search="product") == [product, described["id"]]
    assert await ids(status="pending") == [product, other, described["id"]]
    api.amas_emulator.fail_processing(other, "Embedding service down")
    failed = await api.ok("GET", f"/collections/{other}/")
    assert failed["status"] == "failed"
    assert failed["error_message"] == "Embedding service down"
    assert await ids(status="failed") == [other]
    assert (await api.error("GET", "/collections/", 400, params={"status": "done"}))[
        "field"
    ] == "status"
    assert (await api.call("DELETE", f"/collections/{product}/")).status == 405


# ---- knowledge bases ------------------------------------------------------------------------


async def test_create_knowledge_base_documented_shape(api: Api) -> None:
    file_id = (await api.upload())["id"]
    collection_id = await api.collection("C", file_id)
    chunking = example("knowledge-bases-chunking-hierarchical.json")["chunking_strategy"]
    embedding = {"provider": "azure_openai", "model": "text-embedding-ada-002", "dimensions": 1536}
    created = await api.kb(
        description="Product documentation and guides",
        selected_collections=[collection_id],
        chunking_strategy=chunking,
        embedding_config=embedding,
    )
    assert set(created) == keys("knowledge-bases-get.response.json")
    assert list(created) == list(example("knowledge-bases-get.response.json"))
    uuid.UUID(created["id"])
    assert created["name"] == "Product KB"
    assert created["normalized_dataset_name"] == "product_kb"
    assert (created["status"], created["progress"]) == ("pending", 0)
    assert created["processing_engine"] == "milvus"
    assert created["chunking_strategy"] == chunking
    assert created["embedding_config"] == embedding
    assert (created["datasource_count"], created["total_datasources"]) == (1, 1)
    assert created["datasources"] == []
    assert created["ingested_datasources"] == created["failed_datasources"] == []
    assert created["processing_metadata"] == {}
    got = await api.ok("GET", f"/knowledge-bases/{created['id']}/")
    assert set(got) == set(created)
    assert got["datasource_snapshots"][file_id]["ingestion_status"] == "pending"
    assert (await api.call("GET", "/knowledge-bases/")).status == 405


async def test_knowledge_base_defaults_and_legacy_collections(api: Api) -> None:
    file_id = (await api.upload())["id"]
    collection_id = await api.collection("C", file_id)
    legacy = example("knowledge-bases-create-legacy.request.json")
    legacy["collections"] = [collection_id]
    created = await api.ok("POST", "/knowledge-bases/", 201, json_body=legacy)
    assert (
        created["chunking_strategy"]
        == example("knowledge-bases-get.response.json")["chunking_strategy"]
    )
    assert created["embedding_config"] == {
        "provider": "mistral",
        "model": "mistral-embed",
        "dimensions": 1024,
    }
    assert created["total_datasources"] == 1
    direct = await api.kb(selected_datasources=[file_id])
    assert direct["datasources"] == [file_id]


@pytest.mark.parametrize(
    "name",
    [
        "knowledge-bases-chunking-recursive.json",
        "knowledge-bases-chunking-hierarchical.json",
        "knowledge-bases-chunking-fixed.json",
    ],
)
async def test_documented_chunking_bodies_are_accepted(api: Api, name: str) -> None:
    file_id = (await api.upload())["id"]
    chunking = example(name)["chunking_strategy"]
    created = await api.kb(selected_datasources=[file_id], chunking_strategy=chunking)
    assert created["chunking_strategy"] == chunking


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"processing_engine": None}, "processing_engine"),
        ({"processing_engine": "qdrant"}, "processing_engine"),
        ({"selected_datasources": []}, "selected_collections"),
        ({"selected_collections": ["nope"]}, "selected_collections.0"),
        ({"selected_datasources": ["FILE", "nope"]}, "selected_datasources.1"),
        ({"selected_datasources": "FILE"}, "selected_datasources"),
        ({"chunking_strategy": {"strategy": "semantic"}}, "chunking_strategy.strategy"),
        ({"chunking_strategy": {"chunk_size": 500}}, "chunking_strategy.strategy"),
        (
            {"chunking_strategy": {"strategy": "fixed", "split_by": "char"}},
            "chunking_strategy.split_by",
        ),
        (
            {"chunking_strategy": {"strategy": "recursive", "split_by": "token"}},
            "chunking_strategy.split_by",
        ),
        (
            {"chunking_strategy": {"strategy": "recursive", "chunk_size": 40}},
            "chunking_strategy.chunk_overlap",
        ),
        (
            {"chunking_strategy": {"strategy": "fixed", "chunk_size": "500"}},
            "chunking_strategy.chunk_size",
        ),
        (
            {"chunking_strategy": {"strategy": "hierarchical", "hierarchical_block_sizes": []}},
            "chunking_strategy.hierarchical_block_sizes",
        ),
        (
            {"chunking_strategy": {"strategy": "recursive", "rows_per_batch": 21}},
            "chunking_strategy.rows_per_batch",
        ),
        (
            {"chunking_strategy": {"strategy": "recursive", "table_format": "html"}},
            "chunking_strategy.table_format",
        ),
        (
            {"embedding_config": {"provider": "openai", "model": "m", "dimensions": 8}},
            "embedding_config.provider",
        ),
        (
            {"embedding_config": {"provider": "mistral", "model": "m", "dimensions": 0}},
            "embedding_config.dimensions",
        ),
        ({"embedding_config": {"provider": "mistral"}}, "embedding_config.model"),
        ({"save_as_collection": True}, "new_collection_name"),
        ({"save_as_collection": "yes"}, "save_as_collection"),
    ],
)
async def test_knowledge_base_validation(api: Api, fields: dict[str, Any], field: str) -> None:
    file_id = (await api.upload())["id"]
    body = {"name": "KB", "processing_engine": "milvus", "selected_datasources": [file_id]}
    body.update(json.loads(json.dumps(fields).replace("FILE", file_id)))
    error = await api.error("POST", "/knowledge-bases/", 400, json_body=body)
    assert (error["type"], error["field"]) == (INVALID, field)


async def test_knowledge_base_progress_and_both_status_shapes(api: Api) -> None:
    file_ids = [(await api.upload(filename=f"doc{i}.pdf"))["id"] for i in range(2)]
    created = await api.kb(
        selected_datasources=file_ids,
        chunking_strategy={"strategy": "fixed", "chunk_size": 100, "chunk_overlap": 10},
    )
    kb_id = created["id"]
    check = f"/knowledge-bases/{kb_id}/check_status/"
    documented = example("knowledge-bases-check-status.response.json")

    first = await api.ok("GET", check)
    assert set(first) == set(documented)
    assert set(first["knowledge_base"]) == set(documented["knowledge_base"])
    assert first["success"] is True
    assert first["message"] == "Status checked for knowledge base 'Product KB'"
    assert first["status_updated"] is True
    assert first["knowledge_base"]["status"] == "pending"
    assert (await api.ok("GET", check))["status_updated"] is False

    api.amas_emulator.advance_processing(kb_id, 45)
    running = await api.ok("GET", check)
    assert running["status_updated"] is True
    kb = running["knowledge_base"]
    assert (kb["status"], kb["progress"]) == ("running", 45)
    assert set(kb["processing_metadata"]) == set(
        documented["knowledge_base"]["processing_metadata"]
    )
    total = 2 * 8  # 701 words per file ("%PDF-1.4" counts), 100 per chunk
    assert kb["processing_metadata"]["phase"] == "batch_embedding"
    assert kb["processing_metadata"]["total_chunks"] == total
    processed = kb["processing_metadata"]["processed_chunks"]
    assert 0 < processed < total
    assert (
        kb["processing_metadata"]["message"] == f"Generating Embeddings: {processed}/{total} chunks"
    )
    assert kb["success_rate"] == 0

    api.amas_emulator.advance_processing(kb_id, 10)
    phase = (await api.ok("GET", check))["knowledge_base"]["processing_metadata"]["phase"]
    assert phase == "loading"

    legacy_path = f"/knowledge-bases/{kb_id}/status/"
    legacy = await api.ok("GET", legacy_path)
    assert set(legacy) == keys("knowledge-bases-status-legacy.response.json")
    assert list(legacy) == list(example("knowledge-bases-status-legacy.response.json"))
    assert (legacy["status"], legacy["progress"]) == ("running", 10)
    assert legacy["failed_datasources"] == 0
    assert legacy["estimated_completion"] is None  # held: no estimate

    api.amas_emulator.finish_processing(kb_id)
    done = await api.ok("GET", check)
    kb = done["knowledge_base"]
    assert (kb["status"], kb["progress"], kb["success_rate"]) == ("completed", 100, 100)
    assert [d["id"] for d in kb["ingested_datasources"]] == file_ids
    assert set(kb["ingested_datasources"][0]) == set(
        example("knowledge-bases-get.response.json")["ingested_datasources"][0]
    )
    assert kb["processing_metadata"]["phase"] == "completed"
    legacy = await api.ok("GET", legacy_path)
    assert (legacy["status"], legacy["processed_datasources"]) == ("completed", 2)
    assert (legacy["total_datasources"], legacy["collection_count"]) == (2, 0)
    assert ISO_Z.match(legacy["last_updated"])
    got = await api.ok("GET", f"/knowledge-bases/{kb_id}/")
    assert got["datasource_snapshots"][file_ids[0]]["ingestion_status"] == "ingested"


async def test_knowledge_base_failures(api: Api) -> None:
    good = (await api.upload())["id"]
    bad = (await api.upload())["id"]
    partial = (await api.kb(selected_datasources=[good, bad]))["id"]
    api.amas_emulator.fail_processing(bad, "Unreadable")
    api.amas_emulator.finish_processing(partial)
    kb = await api.ok("GET", f"/knowledge-bases/{partial}/")
    assert (kb["status"], kb["success_rate"]) == ("completed", 50)
    assert [d["id"] for d in kb["failed_datasources"]] == [bad]
    assert kb["datasource_errors"] == {bad: f"File is error: {bad}"}
    legacy = await api.ok("GET", f"/knowledge-bases/{partial}/status/")
    assert (legacy["failed_datasources"], legacy["processed_datasources"]) == (1, 2)

    only_bad = (await api.kb(selected_datasources=[bad]))["id"]
    api.amas_emulator.finish_processing(only_bad)
    assert (await api.ok("GET", f"/knowledge-bases/{only_bad}/"))["status"] == "failed"

    broken = (await api.kb(selected_datasources=[good]))["id"]
    api.amas_emulator.advance_processing(broken, 30)
    api.amas_emulator.fail_processing(broken, "Milvus unavailable")
    checked = (await api.ok("GET", f"/knowledge-bases/{broken}/check_status/"))["knowledge_base"]
    assert (checked["status"], checked["progress"]) == ("failed", 30)
    assert checked["processing_metadata"]["message"] == "Milvus unavailable"
    assert (await api.ok("GET", f"/knowledge-bases/{broken}/status/"))["status"] == "failed"
    api.amas_emulator.advance_processing(broken, 0)  # a failed object can be restarted
    assert (await api.ok("GET", f"/knowledge-bases/{broken}/"))["status"] == "pending"


async def test_knowledge_base_patch(api: Api) -> None:
    file_id = (await api.upload())["id"]
    created = await api.kb(selected_datasources=[file_id])
    path = f"/knowledge-bases/{created['id']}/"
    renamed = await api.ok("PATCH", path, json_body=example("knowledge-bases-update.request.json"))
    assert set(renamed) == set(created)
    assert renamed["name"] == "Updated Product Knowledge Base"
    assert renamed["normalized_dataset_name"] == "product_kb"
    described = await api.ok("PATCH", path, json_body={"description": "New", "id": "ignored"})
    assert (described["id"], described["description"]) == (created["id"], "New")
    chunking = example("knowledge-bases-chunking-fixed.json")["chunking_strategy"]
    assert (await api.ok("PATCH", path, json_body={"chunking_strategy": chunking}))[
        "chunking_strategy"
    ] == chunking
    running = await api.ok("PATCH", path, json_body={"progress": 30})
    assert (running["status"], running["progress"]) == ("running", 30)
    done = await api.ok("PATCH", path, json_body={"status": "completed"})
    assert (done["status"], done["progress"]) == ("completed", 100)
    shown = await api.ok("PATCH", path, json_body={"processing_metadata": {"note": "manual"}})
    assert shown["processing_metadata"] == {"note": "manual"}
    for body, field in [
        ({"name": ""}, "name"),
        ({"progress": 101}, "progress"),
        ({"status": "done"}, "status"),
        ({"embedding_config": {"provider": "x"}}, "embedding_config.provider"),
        ({"failed_datasources": 0}, "failed_datasources"),
    ]:
        assert (await api.error("PATCH", path, 400, json_body=body))["field"] == field
    error = await api.error("PATCH", "/knowledge-bases/nope/", 404, json_body={"name": "x"})
    assert error == {"type": NOT_FOUND, "message": "Knowledge base not found: nope"}
    for suffix in ("", "check_status/", "status/"):
        assert (await api.error("GET", f"/knowledge-bases/nope/{suffix}", 404))["type"] == NOT_FOUND


async def test_save_as_collection(api: Api) -> None:
    file_id = (await api.upload())["id"]
    await api.kb(
        selected_datasources=[file_id],
        save_as_collection=True,
        new_collection_name="Saved",
        new_collection_description="From a KB",
    )
    listed = await api.ok("GET", "/collections/")
    assert [(c["name"], c["description"], c["data_source_count"]) for c in listed] == [
        ("Saved", "From a KB", 1)
    ]


@pytest.mark.parametrize("paths", [("check_status",), ("status",)])
async def test_one_status_path_only(make_api: Any, paths: tuple[str, ...]) -> None:
    api = await make_api(kb_status_paths=paths)
    form = aiohttp.FormData()
    form.add_field("file", PDF, filename="a.pdf")
    file_id = (await api.ok("POST", "/files/", 201, data=form))["id"]
    kb_id = (await api.kb(selected_datasources=[file_id]))["id"]
    served = paths[0]
    missing = "status" if served == "check_status" else "check_status"
    assert (await api.call("GET", f"/knowledge-bases/{kb_id}/{served}/")).status == 200
    error = await api.error("GET", f"/knowledge-bases/{kb_id}/{missing}/", 404)
    assert error["type"] == NOT_FOUND


# ---- processing time ------------------------------------------------------------------------


async def test_instant_processing(make_api: Any) -> None:
    api = await make_api(processing_seconds=0)
    uploaded = await api.upload()
    assert uploaded["status"] == "uploading"  # the answer to the upload itself
    assert (await api.ok("GET", f"/files/{uploaded['id']}/"))["status"] == "active"
    collection_id = await api.collection("C", uploaded["id"])
    assert (await api.ok("GET", f"/collections/{collection_id}/"))["status"] == "completed"
    created = await api.kb(selected_collections=[collection_id])
    assert created["status"] == "pending"
    kb = await api.ok("GET", f"/knowledge-bases/{created['id']}/")
    assert (kb["status"], kb["progress"]) == ("completed", 100)

    api.amas_emulator.hold_processing()
    assert api.amas_emulator.processing_held
    held = await api.upload()
    assert (await api.ok("GET", f"/files/{held['id']}/"))["status"] == "uploading"
    api.amas_emulator.resume_processing()
    assert not api.amas_emulator.processing_held
    assert (await api.ok("GET", f"/files/{held['id']}/"))["status"] == "active"


async def test_processing_seconds_is_live(make_api: Any) -> None:
    api = await make_api(processing_seconds=3600)
    file_id = (await api.upload())["id"]
    kb_id = (await api.kb(selected_datasources=[file_id]))["id"]
    legacy = await api.ok("GET", f"/knowledge-bases/{kb_id}/status/")
    assert legacy["status"] in ("pending", "running")
    assert legacy["progress"] < 1
    api.amas_emulator.advance_processing(kb_id, 50)
    legacy = await api.ok("GET", f"/knowledge-bases/{kb_id}/status/")
    assert legacy["status"] == "running"
    assert ISO_Z.match(legacy["estimated_completion"])
    api.amas_emulator.set_processing_seconds(0)
    assert (await api.ok("GET", f"/files/{file_id}/"))["status"] == "active"
    assert (await api.ok("GET", f"/knowledge-bases/{kb_id}/"))["status"] == "completed"


def test_processing_controls_check_their_arguments() -> None:
    emu = Emulator()
    with pytest.raises(KeyError):
        emu.finish_processing("nope")
    with pytest.raises(KeyError):
        emu.fail_processing("nope")
    with pytest.raises(ValueError, match="seconds"):
        emu.set_processing_seconds(-1)


async def test_advance_processing_checks_the_progress(api: Api) -> None:
    file_id = (await api.upload())["id"]
    for bad in (-1, 100.5, float("nan"), True):
        with pytest.raises(ValueError, match="progress"):
            api.amas_emulator.advance_processing(file_id, bad)
    with pytest.raises(KeyError):
        api.amas_emulator.advance_processing("nope", 10)
    collection_id = await api.collection("Empty")
    api.amas_emulator.finish_processing(collection_id)  # even without files
    assert (await api.ok("GET", f"/collections/{collection_id}/"))["status"] == "completed"


# ---- pagination -----------------------------------------------------------------------------


async def test_lists_are_bare_arrays_by_default(api: Api) -> None:
    for path in ("/agent/", "/files/", "/collections/"):
        assert await api.ok("GET", path) == []


async def test_pagination_envelope_and_links(make_api: Any) -> None:
    api = await make_api(page_size=2)
    for i in range(5):
        await api.create_agent({"name": f"Agent {i}", "agent_type": "llm_agent"})
    first = await api.ok("GET", "/agent/")
    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 5
    assert first["previous"] is None
    assert [a["agent_key"] for a in first["results"]] == ["agent_0", "agent_1"]
    assert first["next"] == f"{api.amas_emulator.base_url}/agent/?page=2"
    second = await api.ok("GET", first["next"])
    assert [a["agent_key"] for a in second["results"]] == ["agent_2", "agent_3"]
    assert second["previous"] == f"{api.amas_emulator.base_url}/agent/"
    third = await api.ok("GET", second["next"])
    assert [a["agent_key"] for a in third["results"]] == ["agent_4"]
    assert third["next"] is None
    assert third["previous"] == f"{api.amas_emulator.base_url}/agent/?page=2"
    for page in ("4", "0", "abc"):
        error = await api.error("GET", "/agent/", 404, params={"page": page})
        assert error == {"type": NOT_FOUND, "message": "Invalid page."}

    for i in range(3):
        await api.upload(filename=f"m{i}.pdf", tags=["a,b"])
    params = [("tags", "a"), ("tags", "b"), ("search", "m")]
    page = await api.ok("GET", "/files/", params=params)
    assert page["count"] == 3
    assert page["next"] == f"{api.amas_emulator.base_url}/files/?tags=a&tags=b&search=m&page=2"
    last = await api.ok("GET", page["next"])
    assert len(last["results"]) == 1
    assert last["previous"] == f"{api.amas_emulator.base_url}/files/?tags=a&tags=b&search=m"

    empty = await api.ok("GET", "/collections/")
    assert empty == {"count": 0, "next": None, "previous": None, "results": []}


# ---- the pipeline applies to the new routes -------------------------------------------------


async def test_faults_and_recording_apply(api: Api) -> None:
    api.amas_emulator.fail_next(status=503, path="/files/", method="POST")
    form = aiohttp.FormData()
    form.add_field("file", PDF, filename="a.pdf")
    assert (await api.call("POST", "/files/", data=form)).status == 503
    assert api.amas_emulator.files == {}
    uploaded = await api.upload()
    sent = api.amas_emulator.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/api/v1/files/")
    assert b'name="file"' in sent.body
    reply = await api.call("GET", f"/files/{uploaded['id']}/", headers={"x-api-key": "wrong"})
    assert reply.status == 401

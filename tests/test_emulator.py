"""Tests of the AMAS emulator itself, driven with a plain aiohttp client (not the SDK)."""

from __future__ import annotations

import ast
import asyncio
import errno
import hashlib
import io
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from helpers import wait_until
from rawhttp import RawApi, Reply

from amas_async.testing._emulator import (
    DEFAULT_API_KEY,
    MAX_MESSAGES_LIMIT,
    Emulator,
    RecordedRequest,
    RegisteredAgent,
    SessionState,
    Upload,
)
from amas_async.testing._emulator import state as emulator_state

# ---- documented examples (copied from the AMAS docs examples) -------------------------------

INLINE = {
    "name": "Support Agent Session",
    "description": "Customer support agent from inline config",
    "save_messages": True,
    "persistent_state": True,
    "agents": [
        {
            "name": "support_agent",
            "agent_type": "llm_agent",
            "description": "Handles customer inquiries",
            "prompt_config": {
                "system_prompt": "You are a helpful customer support agent. "
                "Provide accurate and friendly responses."
            },
            "llm_config": {"temperature": 0.7},
            "streaming_config": {"show_output_to_user": True},
        }
    ],
    "edges": [
        {"from": "__start__", "to": "support_agent"},
        {"from": "support_agent", "to": "__end__"},
    ],
    "entry_point": "support_agent",
}
FLAT = {
    "name": "Support Session",
    "agent_type": "llm_agent",
    "system_prompt": "You are a helpful customer support agent.",
    "llm_config": {"model": "gpt-4o", "temperature": 0.7},
    "tools": ["tavily_search"],
}
CREATE_KEYS = {"success", "session_id", "config_hash"}
GET_KEYS = {"session_id", "config_hash", "created_at", "status", "agent_config"}
EXECUTE_KEYS = {
    "id",
    "object",
    "status",
    "created_at",
    "completed_at",
    "config",
    "messages",
    "execution_time",
    "metadata",
}
METADATA_KEYS = {"correlation_id", "event_count", "execution_id", "usage"}
MESSAGES_KEYS = {"messages", "total", "has_more"}
HISTORY_MESSAGE_KEYS = {"id", "role", "content", "timestamp"}
STATUS_KEYS = {"session_id", "status", "message_count", "last_activity", "created_at", "health"}
FROM_AGENT_KEY_KEYS = {"success", "session_id", "config_hash", "agent_id", "agent_name"}
FROM_AGENT_ID_KEYS = {"success", "session_id", "agent_id", "config_hash"}
AUTH_ERROR = {
    "error": {
        "type": "authentication_error",
        "message": "Invalid or missing authentication credentials",
    }
}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


# ---- helpers --------------------------------------------------------------------------------


class Api(RawApi):
    async def create(self, config: Any) -> str:
        reply = await self.call("POST", "/sessions/", json_body=config)
        assert reply.status == 200, reply.raw
        session_id: str = reply.body["session_id"]
        return session_id

    async def execute(
        self,
        session_id: str,
        content: Any = "hi",
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> Reply:
        return await self.call(
            "POST",
            f"/runtime/{session_id}/execute/",
            json_body={"content": content, **extra},
            headers=headers,
        )

    async def texts(self, session_id: str, content: Any = "hi", **extra: Any) -> list[str]:
        reply = await self.execute(session_id, content, **extra)
        assert reply.status == 200, reply.raw
        return [m["content"] for m in reply.body["messages"]]


def agent(
    name: str, prompt: str = "", agent_type: str = "llm_agent", **extra: Any
) -> dict[str, Any]:
    return {"name": name, "agent_type": agent_type, "system_prompt": prompt, **extra}


def chain(*names: str) -> list[dict[str, str]]:
    nodes = ["__start__", *names, "__end__"]
    return [{"from": a, "to": b} for a, b in itertools.pairwise(nodes)]


def flat(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"name": "Bot", "agent_type": "llm_agent", "system_prompt": prompt, **extra}


@pytest.fixture
async def api(amas_emulator: Emulator) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(amas_emulator, http)


# ---- lifecycle ------------------------------------------------------------------------------


async def test_lifecycle_addresses_and_idempotent_stop() -> None:
    amas_emulator = Emulator()
    with pytest.raises(RuntimeError):
        _ = amas_emulator.port
    assert amas_emulator.api_key == DEFAULT_API_KEY
    await amas_emulator.start()
    try:
        assert amas_emulator.port > 0
        assert amas_emulator.base_url == f"http://127.0.0.1:{amas_emulator.port}/api/v1"
        with pytest.raises(RuntimeError):
            await amas_emulator.start()
    finally:
        await amas_emulator.stop()
    await amas_emulator.stop()
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(amas_emulator.base_url + "/sessions/x/")


async def test_stop_wakes_sleeping_handlers() -> None:
    amas_emulator = Emulator(latency=5.0)
    await amas_emulator.start()
    async with aiohttp.ClientSession() as http:
        pending = asyncio.create_task(Api(amas_emulator, http).call("GET", "/sessions/x/"))
        await wait_until(lambda: amas_emulator.in_flight == 1)
        started = time.monotonic()
        await amas_emulator.stop()
        assert time.monotonic() - started < 1.0
        try:
            reply = await pending
        except aiohttp.ClientError:
            pass
        else:
            assert reply.status == 404
    assert amas_emulator.in_flight == 0


async def test_constructor_and_setter_validation() -> None:
    with pytest.raises(ValueError, match="session_concurrency"):
        Emulator(session_concurrency=0)
    with pytest.raises(ValueError, match="rate"):
        Emulator(fault_rate=1.5)
    amas_emulator = Emulator(api_key="k")
    with pytest.raises(ValueError, match="count"):
        amas_emulator.fail_next(0)
    with pytest.raises(ValueError, match="status"):
        amas_emulator.fail_next(status=99)
    with pytest.raises(ValueError, match="latency"):
        amas_emulator.set_latency(-1)
    with pytest.raises(ValueError, match="error"):
        amas_emulator.fail_execution_next("completed")
    with pytest.raises(ValueError, match="rate"):
        amas_emulator.set_rate_limit(0)


# ---- sessions -------------------------------------------------------------------------------


async def test_create_inline_session_documented_shape(api: Api) -> None:
    reply = await api.call("POST", "/sessions/", json_body=INLINE)
    assert reply.status == 200
    body = reply.body
    assert set(body) == CREATE_KEYS
    assert body["success"] is True
    uuid.UUID(body["session_id"])
    canonical = json.dumps(INLINE, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    assert body["config_hash"] == f"object:{digest}:u:anon"


async def test_get_session_documented_shape(api: Api) -> None:
    session_id = await api.create(FLAT)
    reply = await api.call("GET", f"/sessions/{session_id}/")
    assert reply.status == 200
    body = reply.body
    assert set(body) == GET_KEYS
    assert body["session_id"] == session_id
    assert body["status"] == "active"
    assert body["agent_config"] == FLAT
    assert ISO_Z.match(body["created_at"])
    assert body["config_hash"].startswith("object:")


@pytest.mark.parametrize(
    "content_type", ["application/yaml", "application/x-yaml", "text/yaml; charset=utf-8"]
)
async def test_create_session_from_yaml(api: Api, content_type: str) -> None:
    yaml_text = """
name: YAML Pipeline
agents:
  - name: reviewer
    agent_type: llm_agent
    system_prompt: Review
  - name: publisher
    agent_type: react_agent
    prompt_config:
      system_prompt: Publish {{ reviewer.output }}
edges:
  - from: __start__
    to: reviewer
  - from: reviewer
    condition: "Good enough?"
    condition_type: boolean
    routing: {yes: publisher, no: reviewer}
  - from: publisher
    to: __end__
"""
    reply = await api.call(
        "POST", "/sessions/", data=yaml_text.encode(), headers={"Content-Type": content_type}
    )
    assert reply.status == 200, reply.raw
    session_id = reply.body["session_id"]
    got = (await api.call("GET", f"/sessions/{session_id}/")).body["agent_config"]
    assert got["name"] == "YAML Pipeline"
    assert got["edges"][1]["routing"] == {"true": "publisher", "false": "reviewer"}
    assert await api.texts(session_id, "draft") == [
        "[reviewer] Review | draft",
        "[publisher] Publish [reviewer] Review | draft | draft",
    ]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"agent_type": "llm_agent"}, "name"),
        ({"name": "x"}, "agents"),
        ({"name": "x", "agents": []}, "agents"),
        ({"name": "x", "agents": [{"agent_type": "llm_agent"}]}, "agents.0.name"),
        ({"name": "x", "agents": [agent("a", agent_type="robot")]}, "agents.0.agent_type"),
        ({"name": "x", "agent_type": "robot"}, "agent_type"),
        ({"name": "x", "agents": [agent("a"), agent("a")]}, "agents.1.name"),
        ({"name": "x", "agents": [agent("__end__")]}, "agents.0.name"),
        ({"name": "x", "agents": [agent("a")], "entry_point": "b"}, "entry_point"),
        (
            {"name": "x", "agents": [agent("a")], "edges": [*chain("a"), {"from": "z", "to": "a"}]},
            "edges.2.from",
        ),
        ({"name": "x", "agents": [agent("a")], "edges": [{"from": "a", "to": "b"}]}, "edges.0.to"),
        ({"name": "x", "agents": [agent("a")], "edges": [{"from": "a"}]}, "edges.0.to"),
        (
            {
                "name": "x",
                "agents": [agent("a")],
                "edges": [{"from": "a", "routing": {"yes": "__end__", "no": "ghost"}}],
            },
            "edges.0.routing.no",
        ),
        (
            {
                "name": "x",
                "agents": [agent("a")],
                "edges": [{"from": "a", "possible_outputs": ["a", "ghost"]}],
            },
            "edges.0.possible_outputs.1",
        ),
        (
            {"name": "x", "agents": [agent("s", agent_type="supervisor", supervised_agents=["g"])]},
            "agents.0.supervised_agents.0",
        ),
        ({"name": "x", "agents": [agent("a")], "recursion_limit": 0}, "recursion_limit"),
        ({"name": "x", "agents": [agent("a")], "save_messages": "yes"}, "save_messages"),
        ({"name": "x", "agents": [agent("a")], "variables": {"v": "str"}}, "variables.v"),
    ],
)
async def test_config_validation_names_the_field(api: Api, config: Any, field: str) -> None:
    reply = await api.call("POST", "/sessions/", json_body=config)
    assert reply.status == 400
    error = reply.body["error"]
    assert error["type"] == "invalid_request_error"
    assert error["field"] == field
    assert error["message"]


@pytest.mark.parametrize(
    ("raw", "content_type", "message"),
    [
        (b"[1, 2]", "application/json", "object"),
        (b"{not json", "application/json", "Invalid JSON body: Expecting property name"),
        (b"name: [unclosed", "application/yaml", "Invalid YAML body: expected ',' or ']', but got"),
        (b"", "application/json", "empty"),
        (b"\xff\xfe", "application/json", "UTF-8"),
    ],
)
async def test_bad_bodies(api: Api, raw: bytes, content_type: str, message: str) -> None:
    reply = await api.call("POST", "/sessions/", data=raw, headers={"Content-Type": content_type})
    assert reply.status == 400
    assert reply.body["error"]["type"] == "invalid_request_error"
    assert message in reply.body["error"]["message"]
    assert "\n" not in reply.body["error"]["message"]  # one line, with where it failed


async def test_unknown_session_is_404_everywhere(api: Api) -> None:
    for method, path in [
        ("GET", "/sessions/nope/"),
        ("GET", "/runtime/nope/status/"),
        ("GET", "/runtime/nope/messages/"),
        ("POST", "/runtime/nope/execute/"),
    ]:
        body = {"content": "hi"} if method == "POST" else None
        reply = await api.call(method, path, json_body=body)
        assert reply.status == 404, path
        assert reply.body == {
            "error": {"type": "not_found_error", "message": "Session not found: nope"}
        }


async def test_unknown_paths_and_wrong_methods(api: Api) -> None:
    reply = await api.call("GET", "/nothing/here/")
    assert reply.status == 404
    assert reply.body["error"]["type"] == "not_found_error"
    reply = await api.call("POST", "/sessions", json_body=FLAT)
    assert reply.status == 404
    assert "end with '/'" in reply.body["error"]["message"]
    reply = await api.call("GET", api.amas_emulator.base_url.replace("/api/v1", "/elsewhere"))
    assert reply.status == 404
    assert reply.body["error"]["type"] == "not_found_error"
    reply = await api.call("DELETE", "/sessions/")
    assert reply.status == 405
    assert reply.body["error"]["type"] == "method_not_allowed_error"
    assert reply.headers["Allow"] == "POST"


# ---- auth -----------------------------------------------------------------------------------


async def test_auth_is_required_with_the_documented_body(api: Api) -> None:
    session_id = await api.create(FLAT)
    for headers in (
        {},
        {"x-api-key": "wrong"},
        {"Authorization": f"Bearer {api.amas_emulator.api_key}"},
    ):
        reply = await api.call("GET", f"/sessions/{session_id}/", headers=headers, auth=False)
        assert reply.status == 401
        assert reply.body == AUTH_ERROR
    reply = await api.call("GET", "/not/a/path/", auth=False)
    assert reply.status == 401
    reply = await api.call(
        "GET",
        f"/sessions/{session_id}/",
        headers={"X-API-KEY": api.amas_emulator.api_key},
        auth=False,
    )
    assert reply.status == 200
    assert api.amas_emulator.executed_turns == 0


async def test_custom_api_key() -> None:
    async with Emulator(api_key="secret") as amas_emulator, aiohttp.ClientSession() as http:
        api = Api(amas_emulator, http)
        assert (await api.call("POST", "/sessions/", json_body=FLAT)).status == 200
        reply = await api.call(
            "POST", "/sessions/", json_body=FLAT, headers={"x-api-key": DEFAULT_API_KEY}, auth=False
        )
        assert reply.status == 401


# ---- from-agent -----------------------------------------------------------------------------


async def test_from_agent_by_key_and_by_id(api: Api) -> None:
    registered = api.amas_emulator.register_agent({**FLAT, "name": "Support Agent"})
    assert isinstance(registered, RegisteredAgent)
    assert registered.key == "support_agent"
    assert registered.name == "Support Agent"
    uuid.UUID(registered.id)

    reply = await api.call("GET", "/sessions/from-agent/", params={"agent_key": "support_agent"})
    assert reply.status == 200
    body = reply.body
    assert set(body) == FROM_AGENT_KEY_KEYS
    assert body["success"] is True
    assert body["agent_id"] == registered.id
    assert body["agent_name"] == "Support Agent"
    assert body["config_hash"].startswith("object:")
    assert await api.texts(body["session_id"], "hello") == [
        "[Support Agent] You are a helpful customer support agent. | hello"
    ]
    got = (await api.call("GET", f"/sessions/{body['session_id']}/")).body
    assert got["agent_config"] == registered.config

    reply = await api.call("POST", f"/sessions/from-agent/{registered.id}/")
    assert reply.status == 200
    assert set(reply.body) == FROM_AGENT_ID_KEYS
    assert reply.body["agent_id"] == registered.id
    assert reply.body["session_id"] != body["session_id"]
    state = api.amas_emulator.session_state(reply.body["session_id"])
    assert state.agent_id == registered.id


async def test_from_agent_errors(api: Api) -> None:
    custom = api.amas_emulator.register_agent(INLINE, agent_key="my-key", agent_id="agent-1")
    assert (custom.key, custom.id) == ("my-key", "agent-1")
    reply = await api.call("GET", "/sessions/from-agent/")
    assert reply.status == 400
    assert reply.body["error"]["field"] == "agent_key"
    reply = await api.call("GET", "/sessions/from-agent/", params={"agent_key": "nobody"})
    assert reply.status == 404
    assert reply.body["error"]["type"] == "not_found_error"
    reply = await api.call("POST", "/sessions/from-agent/no-such-id/")
    assert reply.status == 404
    assert reply.body["error"]["type"] == "not_found_error"
    with pytest.raises(ValueError, match="agent_type"):
        api.amas_emulator.register_agent({"name": "x", "agent_type": "robot"})


# ---- execute --------------------------------------------------------------------------------


async def test_execute_documented_shape_and_reply_text(api: Api) -> None:
    session_id = await api.create(INLINE)
    before = int(time.time())
    reply = await api.execute(
        session_id, "Hello! I need help with my account.", correlation_id="c-9"
    )
    assert reply.status == 200
    body = reply.body
    assert set(body) == EXECUTE_KEYS
    assert body["id"] == session_id
    assert body["object"] == "agent.session"
    assert body["status"] == "completed"
    assert body["config"] == {}
    assert before <= body["created_at"] <= body["completed_at"] <= int(time.time())
    assert isinstance(body["execution_time"], (int, float))
    (message,) = body["messages"]
    assert set(message) == {"id", "role", "content", "created_at", "agent"}
    assert message["role"] == "assistant"
    assert message["agent"] == "support_agent"
    assert isinstance(message["created_at"], int)
    prompt = "You are a helpful customer support agent. Provide accurate and friendly responses."
    user = "Hello! I need help with my account."
    assert message["content"] == f"[support_agent] {prompt} | {user}"
    metadata = body["metadata"]
    assert set(metadata) == METADATA_KEYS
    assert metadata["correlation_id"] == "c-9"
    assert metadata["event_count"] == 3
    assert metadata["usage"] == {
        "input_tokens": len(prompt.split()) + len(user.split()),
        "output_tokens": len(message["content"].split()),
    }
    assert api.amas_emulator.executed_turns == 1
    again = (await api.execute(session_id, "Next")).body
    assert again["metadata"]["correlation_id"] is None
    assert [m["content"] for m in again["messages"]] == [f"[support_agent] {prompt} | Next"]


async def test_multimodal_user_input(api: Api) -> None:
    session_id = await api.create(flat(""))
    data_url = "data:image/png;base64," + "iVBORw0KGgo="
    content = [
        {"type": "text", "text": "What's in"},
        {"type": "image_url", "image_url": {"url": "https://example.com/image.jpg"}},
        {"type": "file", "file_url": "https://example.com/doc.pdf"},
        {"type": "text", "text": "this image?"},
        {"type": "image_url", "image_url": {"url": data_url}},
    ]
    assert await api.texts(session_id, content) == [
        "[Bot]  | What's in this image? [image: https://example.com/image.jpg] "
        "[file: https://example.com/doc.pdf] [image: data:image/png;base64 (8 bytes)]"
    ]
    only_image = [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]
    assert await api.texts(session_id, only_image) == ["[Bot]  | [image: https://x/y.png]"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "content"),
        ({"content": ""}, "content"),
        ({"content": []}, "content"),
        ({"content": 42}, "content"),
        ({"content": [{"type": "audio"}]}, "content.0.type"),
        ({"content": ["text"]}, "content.0"),
        ({"content": [{"type": "text"}]}, "content.0.text"),
        (
            {"content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {}}]},
            "content.1.image_url.url",
        ),
        ({"content": [{"type": "image_url", "image_url": "u"}]}, "content.0.image_url"),
        ({"content": [{"type": "file"}]}, "content.0.file_url"),
        ({"content": "hi", "inputs": [1]}, "inputs"),
        ({"content": "hi", "correlation_id": 5}, "correlation_id"),
    ],
)
async def test_execute_validation_names_the_field(api: Api, body: Any, field: str) -> None:
    session_id = await api.create(FLAT)
    reply = await api.call("POST", f"/runtime/{session_id}/execute/", json_body=body)
    assert reply.status == 400
    assert reply.body["error"]["type"] == "invalid_request_error"
    assert reply.body["error"]["field"] == field
    assert api.amas_emulator.executed_turns == 0


async def test_execute_bad_json_and_yaml_body(api: Api) -> None:
    session_id = await api.create(FLAT)
    path = f"/runtime/{session_id}/execute/"
    reply = await api.call("POST", path, data=b"{", headers={"Content-Type": "application/json"})
    assert reply.status == 400
    assert "Invalid JSON" in reply.body["error"]["message"]
    reply = await api.call(
        "POST", path, data=b"content: from yaml\n", headers={"Content-Type": "application/yaml"}
    )
    assert reply.status == 200
    assert reply.body["messages"][0]["content"].endswith("| from yaml")


async def test_workflow_path_templates_and_conditional_edges(api: Api) -> None:
    config = {
        "name": "Pipeline",
        "agents": [
            agent("classifier", "Classify"),
            {
                "name": "writer",
                "agent_type": "llm_agent",
                "prompt_config": {"system_prompt": "Write about {{user_input}}"},
            },
            agent("reviewer", "Review: {{ writer.output }}", "react_agent"),
            agent("publisher", "Publish {{ reviewer.output.score }} {{ later.output }}"),
            agent("billing", "Billing"),
        ],
        "edges": [
            {"from": "__start__", "to": "classifier"},
            {
                "from": "classifier",
                "condition": "Route on {{classifier.output.category}}",
                "condition_type": "literal",
                "possible_outputs": ["writer", "billing"],
            },
            {"from": "writer", "to": "reviewer"},
            {
                "from": "reviewer",
                "condition": "Approved?",
                "condition_type": "boolean",
                "routing": {"yes": "publisher", "no": "writer"},
            },
            {"from": "publisher", "to": "__end__"},
            {"from": "billing", "to": "__end__"},
        ],
        "entry_point": "classifier",
    }
    session_id = await api.create(config)
    reply = await api.execute(session_id, "cats")
    assert [m["agent"] for m in reply.body["messages"]] == [
        "classifier",
        "writer",
        "reviewer",
        "publisher",
    ]
    assert [m["content"] for m in reply.body["messages"]] == [
        "[classifier] Classify | cats",
        "[writer] Write about cats | cats",
        "[reviewer] Review: [writer] Write about cats | cats | cats",
        "[publisher] Publish {{ reviewer.output.score }} {{ later.output }} | cats",
    ]
    assert reply.body["metadata"]["event_count"] == 6


async def test_unconditional_edge_wins_and_entry_point_default(api: Api) -> None:
    config = {
        "name": "x",
        "agents": [agent("a"), agent("b"), agent("c")],
        "edges": [
            {"from": "__start__", "to": "a"},
            {"from": "a", "routing": {"yes": "b", "no": "c"}},
            {"from": "a", "to": "c"},
            {"from": "c", "to": "__end__"},
        ],
    }
    texts = await api.texts(await api.create(config), "go")
    assert texts == ["[a]  | go", "[c]  | go"]
    no_edges = {"name": "x", "agents": [agent("first", "One"), agent("second", "Two")]}
    assert await api.texts(await api.create(no_edges), "go") == ["[first] One | go"]
    with_entry = {**no_edges, "entry_point": "second"}
    assert await api.texts(await api.create(with_entry), "go") == ["[second] Two | go"]


async def test_recursion_limit_caps_cycles(api: Api) -> None:
    config = {
        "name": "loop",
        "recursion_limit": 5,
        "agents": [agent("a"), agent("b")],
        "edges": [
            {"from": "__start__", "to": "a"},
            {"from": "a", "to": "b"},
            {"from": "b", "to": "a"},
        ],
    }
    reply = await api.execute(await api.create(config), "x")
    assert reply.body["status"] == "completed"
    assert [m["agent"] for m in reply.body["messages"]] == ["a", "b", "a", "b", "a"]
    default_limit = {**config}
    del default_limit["recursion_limit"]
    reply = await api.execute(await api.create(default_limit), "x")
    assert len(reply.body["messages"]) == 25


async def test_supervisor_runs_its_agents(api: Api) -> None:
    config = {
        "name": "sup",
        "architecture": "supervisor",
        "agents": [
            agent("boss", "Delegate", "supervisor", supervised_agents=["x", "y"]),
            agent("x", "X"),
            agent("y", "Y"),
        ],
        "entry_point": "boss",
    }
    reply = await api.execute(await api.create(config), "job")
    assert [m["agent"] for m in reply.body["messages"]] == ["boss", "x", "y"]


# ---- variables ------------------------------------------------------------------------------


def with_variables(variables: dict[str, Any], prompt: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "vars",
        "persistent_state": True,
        "variables": variables,
        "agents": [agent("bot", prompt)],
        "edges": chain("bot"),
        **extra,
    }


async def test_session_level_variables_persist(api: Api) -> None:
    config = with_variables(
        {"user_id": {"type": "str"}, "user_email": {"type": "str", "required": True}},
        "User {{ variables.user_id }} <{{variables.user_email}}>",
    )
    session_id = await api.create(config)
    reply = await api.execute(session_id, "Hello", inputs={"user_id": "u1"})
    assert reply.status == 400
    assert reply.body["error"] == {
        "type": "invalid_request_error",
        "message": reply.body["error"]["message"],
        "field": "inputs.user_email",
    }
    assert api.amas_emulator.executed_turns == 0

    first = {"user_id": "user_12345", "user_email": "john@example.com"}
    assert await api.texts(session_id, "Hello", inputs=first) == [
        "[bot] User user_12345 <john@example.com> | Hello"
    ]
    assert await api.texts(session_id, "Again", inputs={}) == [
        "[bot] User user_12345 <john@example.com> | Again"
    ]
    assert await api.texts(session_id, "Omitted") == [
        "[bot] User user_12345 <john@example.com> | Omitted"
    ]
    assert await api.texts(session_id, "New", inputs={"user_id": "u2"}) == [
        "[bot] User u2 <john@example.com> | New"
    ]
    assert api.amas_emulator.session_state(session_id).variables == {
        "user_id": "u2",
        "user_email": "john@example.com",
    }


async def test_request_level_variables_every_time(api: Api) -> None:
    config = with_variables(
        {"user": {"type": "str"}, "tone": {"type": "str", "require_every_execution": True}},
        "{{ variables.user }} / {{ variables.tone }}",
    )
    session_id = await api.create(config)
    assert await api.texts(session_id, "a", inputs={"user": "Ada", "tone": "warm"}) == [
        "[bot] Ada / warm | a"
    ]
    reply = await api.execute(session_id, "b", inputs={})
    assert reply.status == 400
    assert reply.body["error"]["field"] == "inputs.tone"
    assert "tone" in reply.body["error"]["message"]
    assert await api.texts(session_id, "c", inputs={"tone": "dry"}) == ["[bot] Ada / dry | c"]
    assert "tone" not in api.amas_emulator.session_state(session_id).variables


async def test_variables_without_persistent_state(api: Api) -> None:
    config = with_variables(
        {"user": {"type": "str"}}, "{{ variables.user }}", persistent_state=False
    )
    session_id = await api.create(config)
    assert await api.texts(session_id, "a", inputs={"user": "Ada"}) == ["[bot] Ada | a"]
    reply = await api.execute(session_id, "b")
    assert reply.status == 400
    assert reply.body["error"]["field"] == "inputs.user"


async def test_defaults_optional_and_unknown_inputs(api: Api) -> None:
    config = with_variables(
        {
            "lang": {"type": "str", "default": "en"},
            "greeting": {"type": "str", "default": "hello in {{ variables.lang }}"},
            "count": {"type": "int", "default": 3},
            "flags": {"type": "list[str]", "required": False, "default": []},
        },
        "{{ variables.greeting }} x{{ variables.count }} {{ variables.flags }}",
    )
    session_id = await api.create(config)
    assert await api.texts(session_id, "a", inputs={"surprise": 1}) == [
        "[bot] hello in en x3 [] | a"
    ]
    assert await api.texts(session_id, "b", inputs={"lang": "de", "flags": ["x", "y"]}) == [
        '[bot] hello in de x3 ["x", "y"] | b'
    ]


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        # SPEC 5: required false needs a default (null counts as none); type is required
        ({"v": {"type": "str", "required": False}}, "variables.v.default"),
        ({"v": {"type": "str", "required": False, "default": None}}, "variables.v.default"),
        ({"v": {"required": True}}, "variables.v.type"),
        ({"v": {"type": ""}}, "variables.v.type"),
        ({"v": {"type": "str", "mode": "append"}}, "variables.v.mode"),
        ({"v": {"type": "str", "mode": "concat", "separator": 1}}, "variables.v.separator"),
    ],
)
async def test_variable_definitions_are_validated(
    api: Api, variables: dict[str, Any], field: str
) -> None:
    reply = await api.call("POST", "/sessions/", json_body=with_variables(variables, "p"))
    assert reply.status == 400
    assert reply.body["error"]["type"] == "invalid_request_error"
    assert reply.body["error"]["field"] == field


async def test_concat_variables_join_across_turns(api: Api) -> None:
    config = with_variables(
        {
            "notes": {"type": "str", "mode": "concat", "separator": " | "},
            "words": {"type": "str", "mode": "concat"},
            "items": {"type": "list[str]", "mode": "concat"},
            "name": {"type": "str", "mode": "replace"},
        },
        "{{ variables.notes }} / {{ variables.words }} / {{ variables.items }} / "
        "{{ variables.name }}",
    )
    session_id = await api.create(config)
    first = {"notes": "a", "words": "x", "items": ["1"], "name": "Ada"}
    assert await api.texts(session_id, "t", inputs=first) == ['[bot] a / x / ["1"] / Ada | t']
    second = {"notes": "b", "words": "y", "items": ["2"], "name": "Bob"}
    assert await api.texts(session_id, "t", inputs=second) == [
        '[bot] a | b / x y / ["1", "2"] / Bob | t'
    ]
    assert await api.texts(session_id, "t", inputs={"notes": "c"}) == [
        '[bot] a | b | c / x y / ["1", "2"] / Bob | t'
    ]
    assert api.amas_emulator.session_state(session_id).variables["notes"] == "a | b | c"


async def test_persistent_state_defaults_to_off_and_history_to_on(api: Api) -> None:
    config = with_variables({"user": {"type": "str"}}, "{{ variables.user }}")
    del config["persistent_state"]
    session_id = await api.create(config)
    assert await api.texts(session_id, "a", inputs={"user": "Ada"}) == ["[bot] Ada | a"]
    reply = await api.execute(session_id, "b")
    assert reply.status == 400
    assert reply.body["error"]["field"] == "inputs.user"
    assert api.amas_emulator.session_state(session_id).variables == {}
    history = (await api.call("GET", f"/runtime/{session_id}/messages/")).body
    assert history["total"] == 2


async def test_yaml_1_1_values_as_pyyaml_reads_them(api: Api) -> None:
    yaml_text = b"""
name: Dated
description: 2025-01-15
save_messages: yes
persistent_state: on
variables:
  since: {type: str, required: false, default: 2024-12-31}
agent_type: llm_agent
system_prompt: Since {{ variables.since }}
"""
    reply = await api.call(
        "POST", "/sessions/", data=yaml_text, headers={"Content-Type": "application/yaml"}
    )
    assert reply.status == 200, reply.raw
    session_id = reply.body["session_id"]
    got = (await api.call("GET", f"/sessions/{session_id}/")).body["agent_config"]
    assert got["description"] == "2025-01-15"
    assert got["save_messages"] is True
    assert got["persistent_state"] is True
    assert await api.texts(session_id, "hi") == ["[Dated] Since 2024-12-31 | hi"]


# ---- history and status ---------------------------------------------------------------------


async def test_history_paging(api: Api) -> None:
    session_id = await api.create(INLINE)
    for i in range(3):
        await api.execute(session_id, f"message {i}")
    parts = [{"type": "text", "text": "parts"}]
    await api.execute(session_id, parts)
    path = f"/runtime/{session_id}/messages/"

    everything = (await api.call("GET", path)).body
    assert set(everything) == MESSAGES_KEYS
    assert everything["total"] == 8
    assert everything["has_more"] is False
    messages = everything["messages"]
    assert all(set(m) == HISTORY_MESSAGE_KEYS for m in messages)
    assert all(ISO_Z.match(m["timestamp"]) for m in messages)
    assert [m["role"] for m in messages] == ["user", "assistant"] * 4
    assert messages[0]["content"] == "message 0"
    assert messages[1]["content"].endswith("| message 0")
    assert messages[6]["content"] == parts

    page = (await api.call("GET", path, params={"limit": "3", "offset": "2"})).body
    assert [m["content"] for m in page["messages"]] == [
        "message 1",
        messages[3]["content"],
        "message 2",
    ]
    assert page["total"] == 8
    assert page["has_more"] is True
    last = (await api.call("GET", path, params={"limit": "3", "offset": "6"})).body
    assert len(last["messages"]) == 2
    assert last["has_more"] is False
    beyond = (await api.call("GET", path, params={"offset": "50"})).body
    assert beyond == {"messages": [], "total": 8, "has_more": False}
    top = (await api.call("GET", path, params={"limit": str(MAX_MESSAGES_LIMIT)})).body
    assert len(top["messages"]) == 8

    for params, field in [
        ({"limit": "0"}, "limit"),
        ({"limit": str(MAX_MESSAGES_LIMIT + 1)}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "1.5"}, "offset"),
    ]:
        reply = await api.call("GET", path, params=params)
        assert reply.status == 400, params
        assert reply.body["error"]["field"] == field

    state = api.amas_emulator.session_state(session_id)
    assert isinstance(state, SessionState)
    assert state.turns == 4
    assert len(state.history) == 8
    assert state.history[1].agent == "support_agent"
    assert state.history[0].agent is None
    with pytest.raises(KeyError):
        api.amas_emulator.session_state("nope")


async def test_history_not_saved_without_save_messages(api: Api) -> None:
    session_id = await api.create(flat("p", save_messages=False))
    assert (await api.execute(session_id, "x")).status == 200
    body = (await api.call("GET", f"/runtime/{session_id}/messages/")).body
    assert body == {"messages": [], "total": 0, "has_more": False}


async def test_status_endpoint(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    session_id = await api.create(FLAT)
    await api.execute(session_id, "hello")
    reply = await api.call("GET", f"/runtime/{session_id}/status/")
    body = reply.body
    assert set(body) == STATUS_KEYS
    assert body["session_id"] == session_id
    assert body["status"] == "active"
    assert body["message_count"] == 2
    assert body["health"] == "healthy"
    assert ISO_Z.match(body["last_activity"])
    assert ISO_Z.match(body["created_at"])
    monkeypatch.setattr(emulator_state, "IDLE_AFTER_SECONDS", -1.0)
    body = (await api.call("GET", f"/runtime/{session_id}/status/")).body
    assert body["status"] == "idle"


async def test_busy_session_409_and_processing_status() -> None:
    async with Emulator(turn_delay=0.15) as amas_emulator, aiohttp.ClientSession() as http:
        api = Api(amas_emulator, http)
        session_id = await api.create(FLAT)
        first = asyncio.create_task(api.execute(session_id, "one"))
        await wait_until(lambda: amas_emulator.session_state(session_id).active_executes > 0)
        status = (await api.call("GET", f"/runtime/{session_id}/status/")).body
        assert status["status"] == "processing"
        busy = await api.execute(session_id, "two")
        assert busy.status == 409
        assert busy.body["error"]["type"] == "conflict_error"
        assert busy.body["error"]["message"].startswith("Session is busy: ")
        other = await api.create(FLAT)
        amas_emulator.set_turn_delay(0)
        assert (await api.execute(other, "parallel")).status == 200
        assert (await first).status == 200
        assert amas_emulator.executed_turns == 2
        assert (await api.execute(session_id, "three")).status == 200


async def test_session_concurrency_two() -> None:
    async with Emulator(turn_delay=0.1, session_concurrency=2) as amas_emulator:
        async with aiohttp.ClientSession() as http:
            api = Api(amas_emulator, http)
            session_id = await api.create(FLAT)
            replies = await asyncio.gather(*(api.execute(session_id, str(i)) for i in range(3)))
        assert sorted(r.status for r in replies) == [200, 200, 409]
        assert amas_emulator.executed_turns == 2


# ---- images ---------------------------------------------------------------------------------


def form(
    data: bytes, filename: str | None = "photo.png", content_type: str | None = None
) -> aiohttp.FormData:
    payload = aiohttp.FormData()
    payload.add_field("image", io.BytesIO(data), filename=filename, content_type=content_type)
    return payload


async def test_upload_and_serve_back(api: Api) -> None:
    reply = await api.call("POST", "/images/upload/", data=form(PNG, "my photo.png"))
    assert reply.status == 200
    body = reply.body
    assert set(body) == {"url", "media_type", "size"}
    assert body["media_type"] == "image/png"
    assert body["size"] == len(PNG)
    (upload,) = api.amas_emulator.uploads.values()
    assert isinstance(upload, Upload)
    assert upload.filename == "my photo.png"
    assert upload.data == PNG
    assert upload.size == len(PNG)
    assert upload.url == body["url"]
    assert (
        body["url"]
        == f"http://127.0.0.1:{api.amas_emulator.port}/media/images/{upload.id}/my%20photo.png"
    )
    async with aiohttp.ClientSession() as anonymous, anonymous.get(body["url"]) as served:
        assert served.status == 200
        assert served.content_type == "image/png"
        assert await served.read() == PNG

    explicit = await api.call(
        "POST", "/images/upload/", data=form(b"RIFF0000WEBP", "x.bin", "image/webp")
    )
    assert explicit.body["media_type"] == "image/webp"
    unnamed_form = aiohttp.MultipartWriter("form-data")
    part = unnamed_form.append(b"GIF89a", {"Content-Type": "image/gif"})
    part.set_content_disposition("form-data", name="image")  # no filename
    unnamed = await api.call("POST", "/images/upload/", data=unnamed_form)
    assert unnamed.status == 200
    assert unnamed.body["url"].endswith("/image.gif")

    missing = await api.call("GET", body["url"].replace(upload.id, "nope"), auth=False)
    assert missing.status == 404
    assert missing.body["error"]["type"] == "not_found_error"


async def test_upload_errors(api: Api) -> None:
    not_image = await api.call("POST", "/images/upload/", data=form(b"hello", "notes.txt"))
    assert not_image.status == 400
    assert not_image.body["error"]["field"] == "image"
    unknown = await api.call("POST", "/images/upload/", data=form(b"hello", "blob"))
    assert unknown.status == 400
    assert unknown.body["error"]["field"] == "image"
    wrong_field = aiohttp.FormData()
    wrong_field.add_field("file", io.BytesIO(PNG), filename="a.png")
    reply = await api.call("POST", "/images/upload/", data=wrong_field)
    assert reply.status == 400
    assert "'image'" in reply.body["error"]["message"]
    reply = await api.call("POST", "/images/upload/", json_body={"image": "x"})
    assert reply.status == 400
    assert reply.body["error"]["field"] == "image"
    empty = await api.call("POST", "/images/upload/", data=form(b"", "a.png"))
    assert empty.status == 400
    assert api.amas_emulator.uploads == {}


async def test_upload_size_limit() -> None:
    async with Emulator(max_upload_bytes=1024) as amas_emulator, aiohttp.ClientSession() as http:
        api = Api(amas_emulator, http)
        reply = await api.call("POST", "/images/upload/", data=form(b"\x00" * 1025, "big.png"))
        assert reply.status == 413
        assert reply.body["error"]["field"] == "image"
        ok = await api.call("POST", "/images/upload/", data=form(b"\x00" * 1024, "fits.png"))
        assert ok.status == 200
        huge = io.BytesIO(b"x" * (1024 + 1024 * 1024 + 1))
        reply = await api.call(
            "POST", "/sessions/", data=huge, headers={"Content-Type": "application/json"}
        )
        assert reply.status == 413
        assert len(amas_emulator.requests[-1].body) == 1024 + 1024 * 1024


# ---- idempotency ----------------------------------------------------------------------------


async def test_idempotent_replay(api: Api) -> None:
    session_id = await api.create(FLAT)
    key = {"Idempotency-Key": "k-1"}
    first = await api.execute(session_id, "once", headers=key)
    second = await api.execute(session_id, "once", headers=key)
    assert first.status == second.status == 200
    assert second.raw == first.raw
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert api.amas_emulator.executed_turns == 1
    history = (await api.call("GET", f"/runtime/{session_id}/messages/")).body
    assert history["total"] == 2

    other = await api.create(FLAT)
    third = await api.execute(other, "once", headers=key)  # same key, other path: runs
    assert "Idempotent-Replayed" not in third.headers
    assert api.amas_emulator.executed_turns == 2

    invalid = await api.call(
        "POST", f"/runtime/{session_id}/execute/", json_body={}, headers={"Idempotency-Key": "k-2"}
    )
    replayed = await api.execute(session_id, "now valid", headers={"Idempotency-Key": "k-2"})
    assert invalid.status == replayed.status == 400
    assert replayed.raw == invalid.raw
    assert replayed.headers["Idempotent-Replayed"] == "true"


async def test_idempotency_faults_and_conflicts_are_not_stored(api: Api) -> None:
    session_id = await api.create(FLAT)
    key = {"Idempotency-Key": "retry-me"}
    api.amas_emulator.fail_next(status=503, path="/execute/")
    assert (await api.execute(session_id, "x", headers=key)).status == 503
    ok = await api.execute(session_id, "x", headers=key)
    assert ok.status == 200
    assert "Idempotent-Replayed" not in ok.headers
    assert api.amas_emulator.executed_turns == 1


async def test_concurrent_requests_with_one_key_run_once() -> None:
    async with Emulator(turn_delay=0.1) as amas_emulator, aiohttp.ClientSession() as http:
        api = Api(amas_emulator, http)
        session_id = await api.create(FLAT)
        key = {"Idempotency-Key": "same"}
        a, b = await asyncio.gather(
            api.execute(session_id, "x", headers=key), api.execute(session_id, "x", headers=key)
        )
        assert a.status == b.status == 200
        assert a.raw == b.raw
        assert sorted(r.headers.get("Idempotent-Replayed", "") for r in (a, b)) == ["", "true"]
        assert amas_emulator.executed_turns == 1


# ---- fault injection ------------------------------------------------------------------------


async def test_fail_next_count_and_body(api: Api) -> None:
    api.amas_emulator.fail_next(2)
    for _ in range(2):
        reply = await api.call("POST", "/sessions/", json_body=FLAT)
        assert reply.status == 503
        assert reply.body == {"error": {"type": "api_error", "message": "Service Unavailable"}}
        assert "Retry-After" not in reply.headers
    assert (await api.call("POST", "/sessions/", json_body=FLAT)).status == 200
    api.amas_emulator.fail_next(status=404)
    reply = await api.call("GET", "/sessions/whatever/")
    assert reply.body["error"]["type"] == "not_found_error"


async def test_fail_next_filters_and_no_turn(api: Api) -> None:
    session_id = await api.create(FLAT)
    execute_path = f"/api/v1/runtime/{session_id}/execute/"
    api.amas_emulator.fail_next(status=500, path=execute_path)
    api.amas_emulator.fail_next(status=502, method="get")
    assert (await api.call("POST", "/sessions/", json_body=FLAT)).status == 200
    assert (await api.execute(session_id, "x")).status == 500
    assert api.amas_emulator.executed_turns == 0
    assert (await api.call("GET", f"/sessions/{session_id}/")).status == 502
    assert (await api.execute(session_id, "x")).status == 200
    assert api.amas_emulator.executed_turns == 1

    api.amas_emulator.fail_next(status=503, path="/status/")
    assert (await api.call("GET", f"/sessions/{session_id}/")).status == 200
    assert (await api.call("GET", f"/runtime/{session_id}/status/")).status == 503


async def test_fail_next_before_auth(api: Api) -> None:
    api.amas_emulator.fail_next(status=500)
    assert (await api.call("GET", "/sessions/x/", auth=False)).status == 500


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [
        (2, "2"),
        (2.0, "2"),
        (1.5, "1.5"),
        ("Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT"),
    ],
)
async def test_fail_next_retry_after(api: Api, retry_after: str | float, header: str) -> None:
    api.amas_emulator.fail_next(status=429, retry_after=retry_after)
    reply = await api.call("GET", "/sessions/x/")
    assert reply.status == 429
    assert reply.headers["Retry-After"] == header
    assert reply.body == {"error": {"type": "rate_limit_error", "message": "Too many requests"}}


async def test_fail_next_drop_closes_the_connection(amas_emulator: Emulator) -> None:
    session_id = ""
    async with aiohttp.ClientSession() as http:
        session_id = await Api(amas_emulator, http).create(FLAT)
        amas_emulator.fail_next(drop=True, path="/execute/")
        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            await Api(amas_emulator, http).execute(session_id, "x")
        assert amas_emulator.executed_turns == 0
        assert (await Api(amas_emulator, http).execute(session_id, "x")).status == 200
    assert amas_emulator.in_flight == 0


DISCONNECTED = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


async def test_fail_next_drop_after_runs_the_turn_and_keeps_its_answer_for_a_replay(
    api: Api,
) -> None:
    emu = api.amas_emulator
    session_id = await api.create(FLAT)
    emu.fail_next(drop="after", path="/execute/")
    key = {"Idempotency-Key": "turn-1"}
    with pytest.raises(aiohttp.ServerDisconnectedError):  # closed, no answer
        await api.execute(session_id, "lost answer", headers=key)
    assert emu.executed_turns == 1  # ... but the turn ran
    history = emu.session_state(session_id).history
    assert [m.role for m in history] == ["user", "assistant"]
    assert history[0].content == "lost answer"
    replay = await api.execute(session_id, "lost answer", headers=key)  # the client retries
    assert replay.status == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.body["messages"][0]["content"] == history[1].content
    assert emu.executed_turns == 1  # not run again
    assert emu.session_state(session_id).history == history
    without_key = await api.execute(session_id, "next")
    assert without_key.status == 200
    assert emu.executed_turns == 2
    assert emu.in_flight == 0


async def test_fail_next_drop_before_and_reset(api: Api) -> None:
    emu = api.amas_emulator
    session_id = await api.create(FLAT)
    emu.fail_next(drop="before", path="/execute/")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.execute(session_id, "x", headers={"Idempotency-Key": "k"})
    emu.fail_next(drop="reset", path="/execute/")
    with pytest.raises(aiohttp.ClientOSError) as info:  # a TCP reset, not a close
        await api.execute(session_id, "x", headers={"Idempotency-Key": "k"})
    assert info.value.errno == errno.ECONNRESET
    assert emu.executed_turns == 0
    assert emu.session_state(session_id).history == ()
    reply = await api.execute(session_id, "x", headers={"Idempotency-Key": "k"})
    assert reply.status == 200
    assert "Idempotent-Replayed" not in reply.headers  # nothing was stored: it runs now
    assert emu.executed_turns == 1
    assert [r.path.endswith("/execute/") for r in emu.requests].count(True) == 3
    assert emu.in_flight == 0


@pytest.mark.parametrize("drop", [None, 1, "sideways", "drop_after", ""])
def test_fail_next_rejects_unknown_drops(drop: Any) -> None:
    with pytest.raises(ValueError, match="drop must be"):
        Emulator().fail_next(drop=drop)


async def test_random_drops_before_and_after_the_endpoint(api: Api) -> None:
    emu = api.amas_emulator
    session_id = await api.create(FLAT)
    emu.set_fault_rate(1.0, statuses=["drop"])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.execute(session_id, "a", headers={"Idempotency-Key": "a"})
    emu.set_fault_rate(1.0, statuses=["reset"])
    with pytest.raises(aiohttp.ClientOSError):
        await api.execute(session_id, "a", headers={"Idempotency-Key": "a"})
    assert emu.executed_turns == 0
    emu.set_fault_rate(1.0, statuses=["drop_after"])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.execute(session_id, "a", headers={"Idempotency-Key": "a"})
    assert emu.executed_turns == 1
    emu.set_fault_rate(0.0)
    replay = await api.execute(session_id, "a", headers={"Idempotency-Key": "a"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert emu.executed_turns == 1
    said = [m.content for m in emu.session_state(session_id).history if m.role == "user"]
    assert said == ["a"]
    assert emu.in_flight == 0


async def test_random_faults_mix_statuses_and_drops_reproducibly() -> None:
    async def outcomes(emu: Emulator) -> list[int | str]:
        seen: list[int | str] = []
        async with aiohttp.ClientSession() as http:
            api = Api(emu, http)
            for _ in range(40):  # a POST: aiohttp never resends it by itself
                try:
                    seen.append((await api.execute("no-such-session")).status)
                except DISCONNECTED as exc:
                    seen.append(type(exc).__name__)
        return seen

    faults = (429, "drop", "reset", "drop_after")
    async with Emulator(fault_rate=0.5, seed=5, fault_statuses=faults) as one:
        first = await outcomes(one)
    async with Emulator(fault_rate=0.5, seed=5, fault_statuses=faults) as two:
        assert await outcomes(two) == first
    # 404: no fault; 429; a close before or after the endpoint; a reset
    assert set(first) == {404, 429, "ServerDisconnectedError", "ClientOSError"}


@pytest.mark.parametrize(
    ("statuses", "message"),
    [
        (["drop_before"], "a fault must be"),
        (["DROP"], "a fault must be"),
        ("drop", "must be a sequence"),  # not the faults "d", "r", "o", "p"
        ([True], "status code"),
        ([99], "status code"),
        (["drop", 600], "status code"),
        ([], "must not be empty"),
    ],
)
def test_fault_statuses_must_be_statuses_or_drops(statuses: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Emulator().set_fault_rate(0.5, statuses=statuses)
    with pytest.raises(ValueError, match=message):
        Emulator(fault_statuses=statuses)


async def test_fail_next_delay_provokes_client_timeout(api: Api) -> None:
    api.amas_emulator.fail_next(status=503, delay=0.2)
    with pytest.raises(asyncio.TimeoutError):  # the 503 would have been an answer
        await api.call("GET", "/sessions/x/", timeout=0.05)
    assert api.amas_emulator.executed_turns == 0


async def test_fail_next_delay_then_answer(api: Api) -> None:
    api.amas_emulator.fail_next(status=504, delay=0.05)
    started = time.monotonic()
    reply = await api.call("GET", "/sessions/x/")
    assert reply.status == 504
    assert time.monotonic() - started >= 0.05


async def test_respond_next_raw_answers(api: Api) -> None:
    session_id = await api.create(FLAT)
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    api.amas_emulator.respond_next(status=502, body=html, content_type="text/html")
    reply = await api.call("GET", "/sessions/x/")
    assert reply.status == 502
    assert reply.raw.decode() == html
    assert reply.headers["Content-Type"] == "text/html"

    api.amas_emulator.respond_next(body=b"", path="/execute/")
    reply = await api.execute(session_id, "x")
    assert reply.status == 200
    assert reply.raw == b""
    assert api.amas_emulator.executed_turns == 0

    api.amas_emulator.respond_next(2, body=[1, 2], headers={"x-request-id": "r-1"}, method="GET")
    for _ in range(2):
        reply = await api.call("GET", f"/sessions/{session_id}/")
        assert reply.body == [1, 2]
        assert reply.headers["x-request-id"] == "r-1"
        assert reply.headers["Content-Type"].startswith("application/json")
    assert (await api.call("GET", f"/sessions/{session_id}/")).body["session_id"] == session_id

    api.amas_emulator.respond_next(
        body={"weird": True}, content_type="application/json; charset=latin-1"
    )
    reply = await api.call("GET", "/sessions/x/", auth=False)
    assert reply.body == {"weird": True}
    assert reply.headers["Content-Type"] == "application/json; charset=latin-1"


async def test_rules_are_consumed_in_order(api: Api) -> None:
    api.amas_emulator.fail_next(status=500)
    api.amas_emulator.respond_next(status=201, body="second")
    api.amas_emulator.fail_next(status=502)
    statuses = [(await api.call("GET", "/sessions/x/")).status for _ in range(4)]
    assert statuses == [500, 201, 502, 404]


async def test_fail_execution_next(api: Api) -> None:
    session_id = await api.create(FLAT)
    api.amas_emulator.fail_execution_next()
    api.amas_emulator.fail_execution_next("timeout")
    for expected in ("error", "timeout"):
        reply = await api.execute(session_id, "x", correlation_id="c")
        assert reply.status == 200
        body = reply.body
        assert body["status"] == expected
        assert body["messages"] == []
        assert body["metadata"]["correlation_id"] == "c"
        assert body["metadata"]["usage"] == {"input_tokens": 0, "output_tokens": 0}
        assert set(body["metadata"]["error"]) == {"type", "message"}
    assert api.amas_emulator.executed_turns == 2
    assert (await api.execute(session_id, "x")).body["status"] == "completed"
    history = (await api.call("GET", f"/runtime/{session_id}/messages/")).body
    assert [m["role"] for m in history["messages"]] == ["user", "user", "user", "assistant"]


async def _fault_statuses(amas_emulator: Emulator, count: int) -> list[int]:
    async with aiohttp.ClientSession() as http:
        api = Api(amas_emulator, http)
        return [(await api.call("GET", "/sessions/x/")).status for _ in range(count)]


async def test_seeded_fault_rate_is_reproducible() -> None:
    async with Emulator(fault_rate=0.5, seed=7) as one:
        first = await _fault_statuses(one, 30)
    async with Emulator(fault_rate=0.5, seed=7) as two:
        second = await _fault_statuses(two, 30)
        assert first == second
        assert set(first) == {404, 500, 502, 503}
        two.set_fault_rate(0.5, seed=7)
        assert await _fault_statuses(two, 30) == first
        two.set_fault_rate(1.0, statuses=[429])
        async with aiohttp.ClientSession() as http:
            reply = await Api(two, http).call("GET", "/sessions/x/")
        assert reply.status == 429
        assert reply.headers["Retry-After"] == "1"
        two.set_fault_rate(0.0)
        assert await _fault_statuses(two, 3) == [404, 404, 404]


async def test_random_faults_only_hit_the_api(api: Api) -> None:
    reply = await api.call("POST", "/images/upload/", data=form(PNG))
    api.amas_emulator.set_fault_rate(1.0, seed=1)
    assert (await api.call("GET", reply.body["url"], auth=False)).status == 200
    assert (await api.call("GET", "/sessions/x/")).status in (500, 502, 503)


async def test_rate_limit() -> None:
    async with (
        Emulator(rate_limit=0.5, rate_burst=2) as amas_emulator,
        aiohttp.ClientSession() as http,
    ):
        api = Api(amas_emulator, http)
        assert (await api.call("GET", "/sessions/x/", auth=False)).status == 401  # no token used
        assert [(await api.call("GET", "/sessions/x/")).status for _ in range(2)] == [404, 404]
        limited = await api.call("GET", "/sessions/x/")
        assert limited.status == 429
        assert limited.body == {
            "error": {"type": "rate_limit_error", "message": "Too many requests"}
        }
        assert limited.headers["Retry-After"] == "2"
        amas_emulator.set_rate_limit(1000.0, burst=1)
        assert (await api.call("GET", "/sessions/x/")).status == 404
        again = await api.call("GET", "/sessions/x/")
        if again.status == 429:  # refilled within a millisecond otherwise
            assert again.headers["Retry-After"] == "1"
        amas_emulator.set_rate_limit(None)
        assert {(await api.call("GET", "/sessions/x/")).status for _ in range(5)} == {404}


async def test_latency_and_reset(api: Api) -> None:
    api.amas_emulator.set_latency(0.5)
    started = time.monotonic()
    assert (await api.call("GET", "/sessions/x/")).status == 404
    assert time.monotonic() - started >= 0.5
    api.amas_emulator.fail_next(5)
    api.amas_emulator.respond_next(5)
    api.amas_emulator.fail_execution_next(count=3)
    api.amas_emulator.set_fault_rate(1.0)
    api.amas_emulator.set_rate_limit(0.001, burst=1)
    api.amas_emulator.reset_faults()
    started = time.monotonic()
    statuses = [(await api.call("GET", "/sessions/x/")).status for _ in range(3)]
    assert statuses == [404, 404, 404]
    assert time.monotonic() - started < 1.0  # three latencies would take 1.5 s
    session_id = await api.create(FLAT)
    assert (await api.execute(session_id)).body["status"] == "completed"


# ---- observation ----------------------------------------------------------------------------


async def test_requests_are_recorded(api: Api) -> None:
    await api.call(
        "POST",
        "/sessions/",
        json_body=FLAT,
        params={"a": "1"},
        headers={"X-Custom": "yes"},
    )
    api.amas_emulator.fail_next(status=500)
    await api.call("GET", "/sessions/x/", auth=False)
    first, second = api.amas_emulator.requests
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path, first.query) == ("POST", "/api/v1/sessions/", {"a": "1"})
    assert first.headers["x-custom"] == "yes"
    assert first.headers["X-API-KEY"] == DEFAULT_API_KEY
    assert first.json() == FLAT
    assert json.loads(first.text) == FLAT
    assert (second.method, second.path, second.body) == ("GET", "/api/v1/sessions/x/", b"")
    assert "x-api-key" not in second.headers
    assert len(api.amas_emulator.session_ids) == 1


async def test_peak_in_flight() -> None:
    async with Emulator(latency=0.1) as amas_emulator, aiohttp.ClientSession() as http:
        api = Api(amas_emulator, http)
        replies = await asyncio.gather(*(api.call("GET", "/sessions/x/") for _ in range(5)))
        assert [r.status for r in replies] == [404] * 5
        assert amas_emulator.peak_in_flight == 5
        assert amas_emulator.in_flight == 0


# ---- threads and the command line -----------------------------------------------------------


def _urlopen_json(request: urllib.request.Request) -> Any:
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def test_run_in_thread() -> None:
    amas_emulator = Emulator()
    with amas_emulator.run_in_thread() as running:
        assert running is amas_emulator
        create = urllib.request.Request(
            amas_emulator.base_url + "/sessions/",
            data=json.dumps(FLAT).encode(),
            headers={"x-api-key": amas_emulator.api_key, "Content-Type": "application/json"},
            method="POST",
        )
        session_id = _urlopen_json(create)["session_id"]
        amas_emulator.fail_next(status=502)
        status = urllib.request.Request(
            f"{amas_emulator.base_url}/runtime/{session_id}/status/",
            headers={"x-api-key": amas_emulator.api_key},
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            _urlopen_json(status)
        assert info.value.code == 502
        info.value.close()
        assert _urlopen_json(status)["session_id"] == session_id
        assert amas_emulator.session_state(session_id).status == "active"
    with pytest.raises(urllib.error.URLError):
        _urlopen_json(status)


def test_run_in_thread_reports_bind_errors() -> None:
    with (
        Emulator().run_in_thread() as first,
        pytest.raises(OSError, match=r"(?i)address already in use"),
        Emulator(port=first.port).run_in_thread(),
    ):
        pass


def test_cli_subprocess_serves_until_interrupted() -> None:
    command = [sys.executable, "-m", "amas_async.testing", "--port", "0", "--api-key", "sub"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        assert process.stdout is not None
        banner = ""
        while "Ctrl-C" not in banner:
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else "no output"
            banner += line
        match = re.search(r"listening on (http://\S+/api/v1)", banner)
        assert match, banner
        assert "API key: sub" in banner
        request = urllib.request.Request(
            match.group(1) + "/sessions/",
            data=json.dumps(FLAT).encode(),
            headers={"x-api-key": "sub", "Content-Type": "application/json"},
            method="POST",
        )
        assert _urlopen_json(request)["success"] is True
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err + out


# ---- independence ---------------------------------------------------------------------------


def test_the_emulator_imports_nothing_from_the_sdk() -> None:
    """The server the suite trusts imports only the stdlib, aiohttp, multidict, yaml, itself.

    Every import counts, also function-local and TYPE_CHECKING ones.
    """
    package = Path(emulator_state.__file__).parent
    third_party = {"aiohttp", "multidict", "yaml"}
    imported: set[str] = set()
    for source in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), str(source))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    assert node.level == 1, f"{source.name}:{node.lineno} imports from outside"
                    continue
                imported.add(node.module or "")
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    tops = {name.split(".")[0] for name in imported}
    assert third_party <= tops
    assert tops - third_party - sys.stdlib_module_names - {"__future__"} == set()

"""Session creation with a caller's ``Idempotency-Key``: a repeat gets the first session back.

The Ray stage and anything else that must survive its own re-runs creates sessions this way.
"""

from __future__ import annotations

import time

import pytest

import amas_async as amas
from amas_async.testing import Emulator

CONFIG = "examples/support_agent.yaml"


async def test_create_with_a_key_twice_is_one_session(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    first = await amas_client.sessions.create(CONFIG, idempotency_key="job-1-session-a")
    again = await amas_client.sessions.create(CONFIG, idempotency_key="job-1-session-a")
    other = await amas_client.sessions.create(CONFIG, idempotency_key="job-1-session-b")
    assert first.id == again.id
    assert other.id != first.id
    assert len(amas_emulator.session_ids) == 2
    sent = [r.headers["Idempotency-Key"] for r in amas_emulator.requests]
    assert sent == ["job-1-session-a", "job-1-session-a", "job-1-session-b"]


async def test_from_agent_by_id_with_a_key_is_one_session(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    agent = amas_emulator.register_agent(CONFIG)
    first = await amas_client.sessions.from_agent(agent_id=agent.id, idempotency_key="k-1")
    again = await amas_client.sessions.from_agent(agent_id=agent.id, idempotency_key="k-1")
    assert first.id == again.id
    assert first.agent_id == agent.id
    assert [r.method for r in amas_emulator.requests] == ["POST", "POST"]


async def test_the_get_form_carries_no_key_so_it_is_refused(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    with pytest.raises(amas.InvalidRequestError, match="idempotency_key needs agent_id"):
        await amas_client.sessions.from_agent("support_agent", idempotency_key="k")
    assert amas_emulator.requests == []


@pytest.mark.parametrize("key", ["", "   ", "caf\u00e9", "a\nb", 7])
async def test_bad_keys_are_refused_before_sending(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator, key: object
) -> None:
    with pytest.raises(amas.InvalidRequestError, match="idempotency_key must be"):
        await amas_client.sessions.create(CONFIG, idempotency_key=key)  # type: ignore[arg-type]
    assert amas_emulator.requests == []


def test_the_sync_client_takes_the_key_too(threaded_emulator: Emulator) -> None:
    emu = threaded_emulator
    agent = emu.register_agent(CONFIG)
    with amas.Amas(base_url=emu.base_url, api_key=emu.api_key) as client:
        a = client.sessions.create(CONFIG, idempotency_key="s-1")
        b = client.sessions.create(CONFIG, idempotency_key="s-1")
        c = client.sessions.from_agent(agent_id=agent.id, idempotency_key="s-2")
        d = client.sessions.from_agent(agent_id=agent.id, idempotency_key="s-2")
    assert a.id == b.id
    assert c.id == d.id
    assert len(emu.session_ids) == 2


async def test_the_emulator_records_when_each_request_arrived(
    amas_client: amas.AsyncAmas, amas_emulator: Emulator
) -> None:
    before = time.time()
    await amas_client.sessions.create(CONFIG)
    await amas_client.sessions.create(CONFIG)
    after = time.time()
    first, second = amas_emulator.requests
    assert before <= first.received_at <= second.received_at <= after

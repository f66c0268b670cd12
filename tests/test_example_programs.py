"""The programs in examples/, run as a user runs them, against the emulator.

The web backends are driven by their frameworks' own test clients (FastAPI's ``TestClient``
runs the lifespan; aiohttp's ``TestServer`` the cleanup contexts); the batch script runs as a
process and through its ``main()``.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient as AiohttpTestClient
from aiohttp.test_utils import TestServer
from fastapi.testclient import TestClient

import amas_async as amas
from amas_async.testing import Emulator, RetryClock
from examples import aiohttp_app, batch_script, fastapi_app

ROOT = Path(__file__).resolve().parents[1]
FIRST = {"user_name": "Ada", "tone": "friendly"}
FLAT_CONFIG = "name: Echo\nagent_type: llm_agent\nsystem_prompt: You echo.\n"


def assert_closed(client: amas.AsyncAmas) -> None:
    """A call on the client fails: it was closed (no request is attempted)."""
    with pytest.raises(amas.AmasError, match="closed"):
        asyncio.run(client.sessions.create(FLAT_CONFIG))


# ---- FastAPI ---------------------------------------------------------------------------------


@pytest.fixture
def fastapi_client(served_emulator: Emulator) -> Iterator[TestClient]:
    """The FastAPI app, its lifespan running, configured by AMAS_BASE_URL / AMAS_API_KEY."""
    with TestClient(fastapi_app.app) as http:
        yield http


def test_fastapi_chat_keeps_one_client_for_the_app_lifetime(served_emulator: Emulator) -> None:
    with TestClient(fastapi_app.app) as http:
        client = fastapi_app.app.state.amas
        first = http.post("/chat", json={"message": "Hello!", "inputs": FIRST})
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["reply"].endswith("for Ada. Answer in a friendly tone. | Hello!")
        assert body["usage"]["input_tokens"] > 0
        assert body["usage"]["output_tokens"] > 0
        second = http.post(
            "/chat",
            json={
                "session_id": body["session_id"],
                "message": "And then?",
                "inputs": {"tone": "brief"},
            },
        )
        assert second.status_code == 200, second.text
        assert second.json()["session_id"] == body["session_id"]
        assert second.json()["reply"].endswith("for Ada. Answer in a brief tone. | And then?")
        assert fastapi_app.app.state.amas is client  # the same client served both requests
    assert served_emulator.executed_turns == 2
    assert_closed(client)  # the lifespan closed it at shutdown
    gc.collect()  # an unclosed aiohttp session would warn here, and warnings are errors


def test_fastapi_maps_sdk_errors_to_http_errors(
    fastapi_client: TestClient, served_emulator: Emulator, amas_retry_clock: RetryClock
) -> None:
    emu = served_emulator
    started = fastapi_client.post("/chat", json={"message": "Hi", "inputs": FIRST})
    session_id = started.json()["session_id"]

    def send(message: str = "More", **fields: object) -> tuple[int, dict[str, str], object]:
        payload = {"session_id": session_id, "message": message, "inputs": {"tone": "brief"}}
        answer = fastapi_client.post("/chat", json={**payload, **fields})
        return answer.status_code, dict(answer.headers), answer.json()

    status, _, body = send(session_id="no-such-session")
    assert (status, body) == (404, {"detail": "unknown session"})

    emu.fail_next(status=429, retry_after=120)  # beyond the client's patience: no retry
    status, headers, _ = send()
    assert (status, headers["retry-after"]) == (429, "120")

    status, _, body = send(inputs={})  # the config needs a tone with every message
    assert status == 400
    assert "tone" in str(body)

    status, _, _ = send(session_id="../admin")  # refused by the SDK before anything is sent
    assert status == 400

    emu.fail_next(drop=True, path="/execute/")  # the connection breaks under the execute
    status, _, body = send()
    assert (status, body) == (502, {"detail": "the agent service is unreachable"})

    emu.fail_next(3, status=503)  # every attempt of the retried call fails
    status, _, body = send()
    assert (status, body) == (502, {"detail": "the agent service failed"})

    emu.fail_next(status=503)  # one failure is retried, the user never sees it
    assert send()[0] == 200
    assert len(amas_retry_clock.sleeps) == 3

    assert fastapi_client.post("/chat", json={"message": ""}).status_code == 422


def test_fastapi_config_from_the_environment(
    served_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "echo.yaml"
    config.write_text(FLAT_CONFIG, encoding="utf-8")
    monkeypatch.setenv("AMAS_CHAT_CONFIG", str(config))
    with TestClient(fastapi_app.app) as http:
        answer = http.post("/chat", json={"message": "ping"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["reply"] == "[Echo] You echo. | ping"


def test_fastapi_app_does_not_start_without_a_key() -> None:
    with pytest.raises(amas.AmasError, match="AMAS_API_KEY"), TestClient(fastapi_app.app):
        pass


# ---- aiohttp.web -----------------------------------------------------------------------------


async def test_aiohttp_chat_with_a_cleanup_context(
    amas_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, amas_retry_clock: RetryClock
) -> None:
    monkeypatch.setenv("AMAS_BASE_URL", amas_emulator.base_url)
    monkeypatch.setenv("AMAS_API_KEY", amas_emulator.api_key)
    app = aiohttp_app.make_app()
    async with AiohttpTestClient(TestServer(app)) as http:
        client = app[aiohttp_app.AMAS]
        first = await http.post("/chat", json={"message": "Hello!", "inputs": FIRST})
        assert first.status == 200, await first.text()
        body = await first.json()
        assert body["reply"].endswith("for Ada. Answer in a friendly tone. | Hello!")
        session_id = body["session_id"]
        again = {"session_id": session_id, "message": "And?", "inputs": {"tone": "brief"}}
        second = await http.post("/chat", json=again)
        assert (await second.json())["reply"].endswith("Answer in a brief tone. | And?")

        unknown = await http.post("/chat", json={**again, "session_id": "no-such-session"})
        assert (unknown.status, await unknown.json()) == (404, {"detail": "unknown session"})
        amas_emulator.fail_next(status=429, retry_after=120.5)  # beyond the client's patience
        limited = await http.post("/chat", json=again)
        assert (limited.status, limited.headers["Retry-After"]) == (429, "121")
        missing = await http.post("/chat", json={**again, "inputs": None})
        assert missing.status == 400
        amas_emulator.fail_next(drop=True, path="/execute/")
        assert (await http.post("/chat", json=again)).status == 502
        amas_emulator.fail_next(3, status=503)
        assert (await http.post("/chat", json=again)).status == 502
        for wrong in ({"message": ""}, {"message": "x", "inputs": []}, ["x"]):
            assert (await http.post("/chat", json=wrong)).status == 422
        assert (await http.post("/chat", data=b"{")).status == 422
        assert app[aiohttp_app.AMAS] is client
    assert amas_emulator.executed_turns == 2
    with pytest.raises(amas.AmasError, match="closed"):  # the cleanup context closed it
        await client.sessions.create(FLAT_CONFIG)


# ---- the batch script ------------------------------------------------------------------------


def test_batch_script_as_a_process_on_its_embedded_emulator(tmp_path: Path) -> None:
    out = tmp_path / "answers.jsonl"
    completed = subprocess.run(
        [
            *(sys.executable, "examples/batch_script.py", "examples/prompts.jsonl", "--emulator"),
            *("-o", str(out), "--concurrency", "3", "--rps", "100"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    sample = (ROOT / "examples" / "prompts.jsonl").read_text(encoding="utf-8")
    prompts = [json.loads(line) for line in sample.splitlines()]
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(row["id"] for row in rows) == sorted(p["id"] for p in prompts)
    by_id = {row["id"]: row for row in rows}
    for prompt in prompts:
        row = by_id[prompt["id"]]
        assert row["ok"] is True
        assert row["error"] is None
        name, tone = prompt["inputs"]["user_name"], prompt["inputs"]["tone"]
        assert row["reply"].endswith(f"for {name}. Answer in a {tone} tone. | {prompt['content']}")
    # not a terminal: a plain progress line, then the summary
    assert f"{len(prompts)}/{len(prompts)} done, 0 failed" in completed.stderr
    assert completed.stderr.rstrip().endswith(f"{len(prompts)} answered, 0 failed")


def test_batch_script_main_on_a_text_file_with_a_failure(
    served_emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("first\n\nsecond\nthird\n", encoding="utf-8")
    served_emulator.fail_execution_next("error")  # one run ends "error": that row fails
    status = batch_script.main(
        [str(prompts), "-i", "user_name=Ada", "--input", "tone=dry", "--concurrency", "1"]
    )
    captured = capsys.readouterr()
    assert status == 1
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [row["id"] for row in rows] == [1, 3, 4]  # line numbers
    assert [row["ok"] for row in rows] == [False, True, True]
    assert rows[0]["error"].startswith("ExecutionError")
    assert rows[2]["reply"].endswith("for Ada. Answer in a dry tone. | third")
    assert "2 answered, 1 failed" in captured.err


def test_batch_script_progress_bar_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    with batch_script.progress_display(3, screen) as advance:
        for failed in (False, True, False):
            advance(failed)
    assert "3/3" in screen.getvalue()
    assert "1 failed" in screen.getvalue()

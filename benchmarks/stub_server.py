"""The benchmark's stub server: a minimal aiohttp.web app, run in its own process.

``python -m benchmarks.stub_server --port 0`` prints ``PORT <n>`` once it listens on 127.0.0.1.

Routes (every answer is pre-encoded, so the server's own cost per request is as small as
aiohttp.web allows):

* ``POST /api/v1/runtime/{session_id}/execute/``: reads the body and answers the documented
  execute response (``execute-text.response.json`` of the AMAS examples, verbatim).
* ``POST /v1/chat/completions``: a minimal valid ``chat.completion`` (for the openai SDK).
* ``POST /api/v1/images/upload/``: streams the multipart part ``image`` to nowhere and answers
  ``{url, media_type, size}``.
* ``GET /stats``, ``POST /stats/reset``, ``POST /release``: the memory benchmark's controls.

With ``--delay S`` every execute answer waits S seconds. With ``--hold`` (memory mode) every
execute request also waits, after its delay, until ``POST /release``: the client then knows
(from ``GET /stats``) the moment all of its N requests are in flight at once, and measures there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys

from aiohttp import web

from benchmarks.common import pin_to, raise_nofile_limit

# The documented execute answer (tests/data/examples/execute-text.response.json), verbatim.
EXECUTE_RESPONSE = {
    "id": "session_abc123",
    "object": "agent.session",
    "status": "completed",
    "created_at": 1704067200,
    "completed_at": 1704067215,
    "config": {},
    "messages": [
        {
            "id": "msg_def456",
            "role": "assistant",
            "content": "Hello! I'd be happy to help you with your account. "
            "What specific issue are you experiencing?",
            "created_at": 1704067210,
        }
    ],
    "execution_time": 15,
    "metadata": {
        "correlation_id": None,
        "event_count": 3,
        "execution_id": "exec_789",
        "usage": {"input_tokens": 125, "output_tokens": 42},
    },
}

# A minimal chat.completion the openai SDK accepts.
CHAT_RESPONSE = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1704067200,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help?"},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
}

EXECUTE_BYTES = json.dumps(EXECUTE_RESPONSE).encode()
CHAT_BYTES = json.dumps(CHAT_RESPONSE).encode()
_JSON = "application/json"


class State:
    """Counters of the execute route, and the release gate of memory mode."""

    def __init__(self, *, delay: float, hold: bool) -> None:
        self.delay = delay
        self.hold = hold
        self.in_flight = 0
        self.peak = 0
        self.served = 0
        self.release = asyncio.Event()

    def reset(self) -> None:
        self.peak = self.in_flight
        self.served = 0
        self.release = asyncio.Event()


STATE = web.AppKey("state", State)


async def execute(request: web.Request) -> web.Response:
    state = request.app[STATE]
    await request.read()
    if state.delay or state.hold:
        state.in_flight += 1
        state.peak = max(state.peak, state.in_flight)
        try:
            if state.delay:
                await asyncio.sleep(state.delay)
            if state.hold:
                await state.release.wait()
        finally:
            state.in_flight -= 1
    state.served += 1
    return web.Response(body=EXECUTE_BYTES, content_type=_JSON)


async def chat_completions(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=CHAT_BYTES, content_type=_JSON)


async def upload(request: web.Request) -> web.Response:
    reader = await request.multipart()
    size, media_type, found = 0, None, False
    while True:
        part = await reader.next()
        if part is None:
            break
        if getattr(part, "name", None) == "image" and not found:
            found = True
            media_type = part.headers.get("Content-Type")
            while True:
                chunk = await part.read_chunk(1 << 20)  # type: ignore[union-attr]
                if not chunk:
                    break
                size += len(chunk)
        else:
            await part.release()
    if not found:
        return web.json_response({"detail": "no 'image' part"}, status=400)
    return web.json_response(
        {"url": "https://cdn.example.com/images/bench.png", "media_type": media_type, "size": size}
    )


async def stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response(
        {"in_flight": state.in_flight, "peak": state.peak, "served": state.served}
    )


async def reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"ok": True})


async def release(request: web.Request) -> web.Response:
    request.app[STATE].release.set()
    return web.json_response({"ok": True})


def make_app(*, delay: float = 0.0, hold: bool = False) -> web.Application:
    app = web.Application(client_max_size=1 << 40)
    app[STATE] = State(delay=delay, hold=hold)
    app.router.add_post("/api/v1/runtime/{session_id}/execute/", execute)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/api/v1/images/upload/", upload)
    app.router.add_get("/stats", stats)
    app.router.add_post("/stats/reset", reset)
    app.router.add_post("/release", release)
    return app


async def serve(port: int, *, delay: float, hold: bool) -> None:
    runner = web.AppRunner(make_app(delay=delay, hold=hold), access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    # A deep backlog: 10,000 clients connect at once in the memory benchmark.
    sock.listen(65535)
    site = web.SockSite(runner, sock, backlog=65535)
    await site.start()
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--hold", action="store_true", help="hold executes until /release")
    parser.add_argument("--cpu", type=int, default=None, help="pin the server to this CPU")
    args = parser.parse_args(argv)
    pin_to(args.cpu)
    raise_nofile_limit()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, delay=args.delay, hold=args.hold))
    sys.exit(0)


if __name__ == "__main__":
    main()

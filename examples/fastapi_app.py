r"""A FastAPI chat backend holding one ``AsyncAmas`` for the app's whole life.

The client is opened by the app's lifespan and kept on ``app.state.amas``: every request shares
its connection pool, retries and rate limiting, and the pool is closed when the app stops.
Creating a client per request would open a new pool (new TCP and TLS handshakes) each time.

Run it (``pip install amas-async fastapi uvicorn``), against the local emulator::

    amas emulator                 # in another terminal; prints the two exports below
    export AMAS_BASE_URL=http://127.0.0.1:8765/api/v1 AMAS_API_KEY=amas-test-key
    uvicorn examples.fastapi_app:app

or against AMAS itself (``AMAS_API_KEY`` set, ``AMAS_BASE_URL`` unset). Then::

    curl -s localhost:8000/chat -H 'content-type: application/json' \
      -d '{"message": "Hello!", "inputs": {"user_name": "Ada", "tone": "friendly"}}'
    # {"session_id": "...", "reply": "...", "usage": {"input_tokens": 12, "output_tokens": 9}}
    curl -s localhost:8000/chat -H 'content-type: application/json' \
      -d '{"session_id": "<from above>", "message": "And then?", "inputs": {"tone": "brief"}}'

``POST /chat`` without a ``session_id`` starts a conversation: a session made from the config
named by ``AMAS_CHAT_CONFIG`` (default: ``support_agent.yaml`` beside this file, whose
variables are ``user_name`` once and ``tone`` with every message, passed as ``inputs``).

SDK errors become HTTP errors: an unknown session is 404, the API's 429 is passed on as 429
with its ``Retry-After``, a request AMAS rejects (a missing variable, say) is 400, AMAS being
unreachable is 502 (504 on a timeout), any other AMAS failure is 502.
"""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

import amas_async as amas

DEFAULT_CONFIG = Path(__file__).resolve().parent / "support_agent.yaml"


class ChatRequest(BaseModel):
    """One user message; without ``session_id`` a new conversation starts."""

    message: str = Field(min_length=1)
    session_id: str | None = None
    inputs: dict[str, Any] | None = None


class Usage(BaseModel):
    """Tokens the turn used (0 when the answer did not say)."""

    input_tokens: int = 0
    output_tokens: int = 0


class ChatReply(BaseModel):
    """The agent's answer, and the session to continue with."""

    session_id: str
    reply: str
    usage: Usage


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the one client at startup (AMAS_API_KEY, AMAS_BASE_URL) and close it at shutdown."""
    # Read and checked once: a broken config stops the app at startup, not at the first chat.
    app.state.session_config = amas.SessionConfig.from_yaml(
        os.environ.get("AMAS_CHAT_CONFIG", str(DEFAULT_CONFIG))
    ).validate()
    async with amas.AsyncAmas() as client:
        app.state.amas = client
        yield


app = FastAPI(title="AMAS chat", lifespan=lifespan)


def get_amas(request: Request) -> amas.AsyncAmas:
    """The app's client (a dependency)."""
    client: amas.AsyncAmas = request.app.state.amas
    return client


Client = Annotated[amas.AsyncAmas, Depends(get_amas)]


@app.post("/chat")
async def chat(body: ChatRequest, client: Client, request: Request) -> ChatReply:
    """Send one message; start a session first when none is given."""
    if body.session_id is None:
        session = await client.sessions.create(request.app.state.session_config)
    else:
        session = client.session(body.session_id)
    result = await session.execute(body.message, inputs=body.inputs)
    usage = Usage()
    if result.usage is not None:
        usage = Usage(
            input_tokens=result.usage.input_tokens, output_tokens=result.usage.output_tokens
        )
    return ChatReply(session_id=session.id, reply=result.text, usage=usage)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


@app.exception_handler(amas.AmasError)
async def amas_error(request: Request, exc: Exception) -> JSONResponse:
    """Map what the SDK raised to the answer our own client should see."""
    if isinstance(exc, amas.NotFoundError):
        return _error(404, "unknown session")
    if isinstance(exc, amas.RateLimitError):
        wait = exc.retry_after
        headers = {"Retry-After": str(math.ceil(wait))} if wait is not None else None
        return _error(429, "too many requests; try again later", headers)
    if isinstance(exc, (amas.BadRequestError, amas.UnprocessableEntityError)):
        return _error(400, exc.message)
    if isinstance(exc, amas.InvalidRequestError):  # caught locally, e.g. a malformed session id
        return _error(400, str(exc))
    if isinstance(exc, amas.APITimeoutError):
        return _error(504, "the agent service did not answer in time")
    if isinstance(exc, amas.APIConnectionError):
        return _error(502, "the agent service is unreachable")
    # 401/403 (our key), 5xx after retries, a failed run, an unreadable answer: not the caller's.
    return _error(502, "the agent service failed")

r"""An aiohttp.web chat backend holding one ``AsyncAmas`` for the app's whole life.

The client is opened and closed by a cleanup context (``app.cleanup_ctx``), aiohttp's own
lifespan, and kept in the app under the ``AMAS`` key: every request shares its connection
pool, retries and rate limiting. It is the same endpoint as ``fastapi_app.py``.

Run it (``pip install amas-async``; aiohttp comes with it), against the local emulator::

    amas emulator                 # in another terminal; prints the two exports below
    export AMAS_BASE_URL=http://127.0.0.1:8765/api/v1 AMAS_API_KEY=amas-test-key
    python examples/aiohttp_app.py            # serves on http://127.0.0.1:8080

or against AMAS itself (``AMAS_API_KEY`` set, ``AMAS_BASE_URL`` unset). Then::

    curl -s localhost:8080/chat -H 'content-type: application/json' \
      -d '{"message": "Hello!", "inputs": {"user_name": "Ada", "tone": "friendly"}}'
    # {"session_id": "...", "reply": "...", "usage": {"input_tokens": 12, "output_tokens": 9}}

``POST /chat`` takes ``{"message": str, "session_id"?: str, "inputs"?: {...}}``; without a
``session_id`` it starts a session from the config named by ``AMAS_CHAT_CONFIG`` (default:
``support_agent.yaml`` beside this file, whose variables are ``user_name`` once and ``tone``
with every message). SDK errors become HTTP errors: an unknown session is 404, the API's 429
is passed on as 429 with its ``Retry-After``, a request AMAS rejects is 400, AMAS unreachable is
502 (504 on a timeout), any other AMAS failure 502.
"""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

import amas_async as amas

DEFAULT_CONFIG = Path(__file__).resolve().parent / "support_agent.yaml"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

AMAS = web.AppKey("amas", amas.AsyncAmas)
SESSION_CONFIG = web.AppKey("session_config", amas.SessionConfig)


async def amas_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the one client at startup (AMAS_API_KEY, AMAS_BASE_URL); close it at cleanup."""
    # Read and checked once: a broken config stops the app at startup, not at the first chat.
    app[SESSION_CONFIG] = amas.SessionConfig.from_yaml(
        os.environ.get("AMAS_CHAT_CONFIG", str(DEFAULT_CONFIG))
    ).validate()
    async with amas.AsyncAmas() as client:
        app[AMAS] = client
        yield


async def chat(request: web.Request) -> web.Response:
    """Send one message; start a session first when none is given."""
    body, problem = await _read_chat_request(request)
    if problem is not None:
        return _error(422, problem)  # as FastAPI answers a body that does not fit
    client = request.app[AMAS]
    session_id = body.get("session_id")
    if session_id is None:
        session = await client.sessions.create(request.app[SESSION_CONFIG])
    else:
        session = client.session(session_id)
    result = await session.execute(body["message"], inputs=body.get("inputs"))
    usage = result.usage
    return web.json_response(
        {
            "session_id": session.id,
            "reply": result.text,
            "usage": {
                "input_tokens": usage.input_tokens if usage else 0,
                "output_tokens": usage.output_tokens if usage else 0,
            },
        }
    )


async def _read_chat_request(request: web.Request) -> tuple[dict[str, Any], str | None]:
    """The JSON body, and what is wrong with it (None: it is a chat request)."""
    try:
        body = await request.json()
    except ValueError:
        return {}, "the body must be JSON"
    if not isinstance(body, dict):
        return {}, "the body must be a JSON object"
    message, session_id, inputs = body.get("message"), body.get("session_id"), body.get("inputs")
    if not isinstance(message, str) or not message:
        return body, "message must be a non-empty string"
    if session_id is not None and not isinstance(session_id, str):
        return body, "session_id must be a string"
    if inputs is not None and not isinstance(inputs, dict):
        return body, "inputs must be an object"
    return body, None


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"detail": message}, status=status, headers=headers)


@web.middleware
async def amas_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map what the SDK raised to the answer our own client should see."""
    try:
        return await handler(request)
    except amas.NotFoundError:
        return _error(404, "unknown session")
    except amas.RateLimitError as exc:
        wait = exc.retry_after
        headers = {"Retry-After": str(math.ceil(wait))} if wait is not None else None
        return _error(429, "too many requests; try again later", headers)
    except (amas.BadRequestError, amas.UnprocessableEntityError) as exc:
        return _error(400, exc.message)
    except amas.InvalidRequestError as exc:  # caught locally, e.g. a malformed session id
        return _error(400, str(exc))
    except amas.APITimeoutError:
        return _error(504, "the agent service did not answer in time")
    except amas.APIConnectionError:
        return _error(502, "the agent service is unreachable")
    except amas.AmasError:
        # 401/403 (our key), 5xx after retries, a failed run, an unreadable answer.
        return _error(502, "the agent service failed")


def make_app() -> web.Application:
    """The application: the chat route, the error mapping, the client's cleanup context."""
    app = web.Application(middlewares=[amas_errors])
    app.cleanup_ctx.append(amas_ctx)
    app.router.add_post("/chat", chat)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8080")))

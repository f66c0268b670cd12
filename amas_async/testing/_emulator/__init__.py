"""A local, deterministic emulator of the Atthene AMAS REST API, for tests.

:class:`Emulator` is an :mod:`aiohttp.web` server on 127.0.0.1 that answers the documented
AMAS endpoints with the documented JSON shapes, runs agents deterministically (there is no
LLM) and lets a test script failures and count what happened. What it does, which rules are
documented AMAS behaviour and which are its own choices, the fault-injection API, the counters
and examples: ``docs/emulator.md`` in the source repository.

One concern per module:

* ``server``: :class:`Emulator` (start/stop, threads, addresses, observation)
* ``faults``: the fault-injection and scripting methods and their data
* ``pipeline``: the steps every request passes, as aiohttp middlewares in one declared order
* ``routes``: the session, runtime and image endpoints
* ``resource_routes``: the agent, file, collection and knowledge-base endpoints
* ``state``: sessions, uploads, the request log, counters; the value types
* ``agents``: the saved-agent store (``/agent/``, from-agent, ``register_agent``)
* ``library``: files, collections and knowledge bases, their bodies, the processing controls
* ``knowledge``: knowledge-base request bodies (chunking, embedding) validated
* ``processing``: the pausable clock and the job every processed object follows
* ``workflow``: agent configs validated into a workflow and its deterministic path
* ``engine``: execute bodies, variables, templates, replies and token counts
* ``bodies`` and ``errors``: JSON/YAML request bodies; the documented error body

It imports only the standard library, aiohttp, multidict and PyYAML: never the SDK it tests.
"""

from __future__ import annotations

from .processing import DEFAULT_PROCESSING_SECONDS
from .resource_routes import KB_STATUS_PATHS
from .routes import API_PREFIX, MAX_MESSAGES_LIMIT
from .server import DEFAULT_API_KEY, MAX_UPLOAD_BYTES, Emulator
from .state import (
    IDLE_AFTER_SECONDS,
    RecordedRequest,
    RegisteredAgent,
    SessionState,
    StoredFile,
    StoredMessage,
    Upload,
)

__all__ = [
    "API_PREFIX",
    "DEFAULT_API_KEY",
    "DEFAULT_PROCESSING_SECONDS",
    "IDLE_AFTER_SECONDS",
    "KB_STATUS_PATHS",
    "MAX_MESSAGES_LIMIT",
    "MAX_UPLOAD_BYTES",
    "Emulator",
    "RecordedRequest",
    "RegisteredAgent",
    "SessionState",
    "StoredFile",
    "StoredMessage",
    "Upload",
]

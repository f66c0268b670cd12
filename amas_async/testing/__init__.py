"""Testing helpers: the local AMAS emulator (a real HTTP server), a mock transport, the plugin.

``Emulator`` speaks the documented AMAS REST API on 127.0.0.1 with deterministic agents, fault
injection and counters, for the SDK's own tests, for users' tests, and for demos.
``MockTransport(handler)`` answers a client's requests from a function, with no network.
``instant_retries()`` makes retry backoff sleeps instant (with a fake clock) within a block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._emulator import (
        DEFAULT_API_KEY,
        MAX_UPLOAD_BYTES,
        Emulator,
        RecordedRequest,
        RegisteredAgent,
        SessionState,
        StoredFile,
        StoredMessage,
        Upload,
    )
    from ._retries import RetryClock, instant_retries

from ._mock import MockTransport

__all__ = [
    "DEFAULT_API_KEY",
    "MAX_UPLOAD_BYTES",
    "Emulator",
    "MockTransport",
    "RecordedRequest",
    "RegisteredAgent",
    "RetryClock",
    "SessionState",
    "StoredFile",
    "StoredMessage",
    "Upload",
    "instant_retries",
]

_RETRIES = ("RetryClock", "instant_retries")


def __getattr__(name: str) -> Any:
    # Imported on first use: the server side is not needed to import the SDK.
    if name in _RETRIES:
        from . import _retries

        return getattr(_retries, name)
    if name in __all__ and name != "MockTransport":
        from . import _emulator

        return getattr(_emulator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The API's resources: each builds requests, sends them through the client, reads answers."""

from .images import AsyncImages
from .runtime import AsyncRuntime
from .sessions import AsyncSessions, Session

__all__ = ["AsyncImages", "AsyncRuntime", "AsyncSessions", "Session"]

"""The API's resources: each builds requests, sends them through the client, reads answers."""

from .agents import AsyncAgents
from .collections import AsyncCollections
from .files import AsyncFiles
from .images import AsyncImages
from .knowledge_bases import AsyncKnowledgeBases
from .runtime import AsyncRuntime
from .sessions import AsyncSessions, Session

__all__ = [
    "AsyncAgents",
    "AsyncCollections",
    "AsyncFiles",
    "AsyncImages",
    "AsyncKnowledgeBases",
    "AsyncRuntime",
    "AsyncSessions",
    "Session",
]

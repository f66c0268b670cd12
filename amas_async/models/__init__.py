"""The values the SDK sends and receives: frozen attrs classes, no client references.

``content`` holds the parts of a message, ``executions`` what the runtime answers and
``config`` the session configuration with its wire form and local checks. Reading answers
and writing request bodies is done by the resources, with the private converter of
``amas_async._serde``.
"""

from __future__ import annotations

from .config import AGENT_TYPES as AGENT_TYPES
from .config import END as END
from .config import START as START
from .config import AgentConfig, Edge, SessionConfig
from .content import Content, ContentPart, FilePart, ImagePart, ImageUpload, TextPart
from .executions import Execution, Message, MessagePage, SessionStatus, Usage

__all__ = [
    "AgentConfig",
    "Content",
    "ContentPart",
    "Edge",
    "Execution",
    "FilePart",
    "ImagePart",
    "ImageUpload",
    "Message",
    "MessagePage",
    "SessionConfig",
    "SessionStatus",
    "TextPart",
    "Usage",
]

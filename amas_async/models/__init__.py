"""The values the SDK sends and receives: frozen attrs classes, no client references.

``content`` holds the parts of a message, ``executions`` what the runtime answers,
``config`` the session configuration with its wire form and local checks, ``agents`` saved
agents and config validation, and ``knowledge`` files, collections and knowledge bases (with
the chunking and embedding settings a knowledge base is built with). Reading answers
and writing request bodies is done by the resources, with the private converter of
``amas_async._serde``.
"""

from __future__ import annotations

from .agents import Agent, ConfigValidation, FieldError
from .config import AGENT_TYPES as AGENT_TYPES
from .config import END as END
from .config import START as START
from .config import AgentConfig, Edge, SessionConfig
from .content import Content, ContentPart, FilePart, ImagePart, ImageUpload, TextPart
from .executions import Execution, Message, MessagePage, SessionStatus, Usage
from .knowledge import (
    AddFilesResult,
    ChunkingStrategy,
    Collection,
    CollectionDatasource,
    EmbeddingConfig,
    File,
    KnowledgeBase,
    KnowledgeBaseStatus,
)

__all__ = [
    "AddFilesResult",
    "Agent",
    "AgentConfig",
    "ChunkingStrategy",
    "Collection",
    "CollectionDatasource",
    "ConfigValidation",
    "Content",
    "ContentPart",
    "Edge",
    "EmbeddingConfig",
    "Execution",
    "FieldError",
    "File",
    "FilePart",
    "ImagePart",
    "ImageUpload",
    "KnowledgeBase",
    "KnowledgeBaseStatus",
    "Message",
    "MessagePage",
    "SessionConfig",
    "SessionStatus",
    "TextPart",
    "Usage",
]

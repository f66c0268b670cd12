"""amas_async: the async-first Python SDK for the Atthene AMAS REST API.

Start with :class:`AsyncAmas` (or :class:`Amas` from synchronous code):

```python
import amas_async as amas

async with amas.AsyncAmas() as client:
    session = await client.sessions.create("support_agent.yaml")
    result = await session.execute("Hello!")
    print(result.text)
```
"""

from typing import TYPE_CHECKING, Any

from ._client import AsyncAmas
from ._config import Limits, Timeout
from ._http import AsyncTransport, Handler, Headers, Middleware, Request, Response
from ._retry import RetryEvent, RetryPolicy
from ._throttle import Throttle
from ._transports import AiohttpTransport
from ._version import __version__
from .batch import BatchResult, ExecuteRequest
from .errors import (
    AmasError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigValidationError,
    ConflictError,
    ExecutionError,
    InputFileNotFoundError,
    InternalServerError,
    InvalidContentError,
    InvalidFileError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProcessingError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from .models import (
    AddFilesResult,
    Agent,
    AgentConfig,
    ChunkingStrategy,
    Collection,
    CollectionDatasource,
    ConfigValidation,
    ContentPart,
    Edge,
    EmbeddingConfig,
    Execution,
    FieldError,
    File,
    FilePart,
    ImagePart,
    ImageUpload,
    KnowledgeBase,
    KnowledgeBaseStatus,
    Message,
    MessagePage,
    SessionConfig,
    SessionStatus,
    TextPart,
    Usage,
)
from .resources import Session

if TYPE_CHECKING:
    from .sync import Amas

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AddFilesResult",
    "Agent",
    "AgentConfig",
    "AiohttpTransport",
    "Amas",
    "AmasError",
    "AsyncAmas",
    "AsyncTransport",
    "AuthenticationError",
    "BadRequestError",
    "BatchResult",
    "ChunkingStrategy",
    "Collection",
    "CollectionDatasource",
    "ConfigValidation",
    "ConfigValidationError",
    "ConflictError",
    "ContentPart",
    "Edge",
    "EmbeddingConfig",
    "ExecuteRequest",
    "Execution",
    "ExecutionError",
    "FieldError",
    "File",
    "FilePart",
    "Handler",
    "Headers",
    "ImagePart",
    "ImageUpload",
    "InputFileNotFoundError",
    "InternalServerError",
    "InvalidContentError",
    "InvalidFileError",
    "InvalidRequestError",
    "KnowledgeBase",
    "KnowledgeBaseStatus",
    "Limits",
    "Message",
    "MessagePage",
    "Middleware",
    "NotFoundError",
    "PermissionDeniedError",
    "ProcessingError",
    "RateLimitError",
    "Request",
    "Response",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryEvent",
    "RetryPolicy",
    "Session",
    "SessionConfig",
    "SessionStatus",
    "TextPart",
    "Throttle",
    "Timeout",
    "UnprocessableEntityError",
    "Usage",
    "WaitTimeoutError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # The sync shim (and anyio's thread machinery) is imported on first use of Amas.
    if name == "Amas":
        from .sync import Amas

        globals()["Amas"] = Amas
        return Amas
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

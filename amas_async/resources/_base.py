"""What every resource shares: the client that sends its requests, seen through a protocol.

Resources sit below the client: they know it only as :class:`Client`, the two methods they
call, so ``resources`` never imports ``_client``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from .._http import Middleware, Params
from .._multipart import MultipartBody

T = TypeVar("T")


class Client(Protocol):
    """The part of :class:`~amas_async.AsyncAmas` that resources use."""

    async def _request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: Params | None = None,
        multipart: MultipartBody | None = None,
        idempotent: bool = True,
        idempotency_key: str | None = None,
        parse: Callable[[Any], T],
    ) -> T: ...

    def _with_inner_middleware(self, middleware: Middleware) -> Client: ...


class AsyncResource:
    """Base of the resources; holds the client."""

    __slots__ = ("_client",)

    def __init__(self, client: Client) -> None:
        self._client = client


__all__ = ["AsyncResource", "Client"]

"""What every resource shares: a reference to the client that sends its requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._client import AsyncAmas


class AsyncResource:
    """Base of the resources; holds the client."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncAmas) -> None:
        self._client = client

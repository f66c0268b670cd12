"""Raw HTTP to an emulator, without the SDK: for the emulator's own tests.

Import as ``from rawhttp import RawApi, Reply``; each test module subclasses :class:`RawApi`
with the calls it repeats.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from amas_async.testing import Emulator


@dataclass
class Reply:
    """An answer as it came off the socket: status, headers and the body's bytes."""

    status: int
    headers: CIMultiDictProxy[str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


class RawApi:
    """Sends requests to ``amas_emulator`` with its API key (unless ``auth=False``)."""

    def __init__(self, amas_emulator: Emulator, http: aiohttp.ClientSession) -> None:
        self.amas_emulator = amas_emulator
        self.http = http

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Any = None,
        auth: bool = True,
        timeout: float | None = None,
    ) -> Reply:
        """One request; ``path`` is under the base URL unless it is a whole URL."""
        sent = {"x-api-key": self.amas_emulator.api_key} if auth else {}
        sent.update(headers or {})
        url = path if path.startswith("http") else self.amas_emulator.base_url + path
        client_timeout = aiohttp.ClientTimeout(total=timeout) if timeout else None
        async with self.http.request(
            method,
            url,
            json=json_body,
            data=data,
            headers=sent,
            params=params,
            timeout=client_timeout,
        ) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

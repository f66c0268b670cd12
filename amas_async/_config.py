"""Frozen client settings: base URL, API key, timeouts, connection pool.

Everything here is resolved once, when the client is constructed, so that no request pays for
reading the environment and a misconfiguration fails at construction, not on the first call.
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Mapping
from typing import Any

import attrs

from ._version import __version__
from .errors import AmasError, InvalidContentError, InvalidRequestError

DEFAULT_BASE_URL = "https://api-be.atthene.com/api/v1"
API_KEY_ENV = "AMAS_API_KEY"
BASE_URL_ENV = "AMAS_BASE_URL"
USER_AGENT = f"amas-async/{__version__}"


class NotGiven(enum.Enum):
    """The type of :data:`NOT_GIVEN`: an argument left out, where None means "none"."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"


#: Default of arguments whose None is meaningful (``with_options(timeout=None)``: no limit).
NOT_GIVEN = NotGiven.NOT_GIVEN


def _check_seconds(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidContentError(f"Timeout.{attribute.name} must be a number of seconds or None")
    if not math.isfinite(value) or value <= 0:
        raise InvalidRequestError(
            f"Timeout.{attribute.name} must be a positive number of seconds or None"
        )


@attrs.frozen
class Timeout:
    """Time limits for one attempt of one request, in seconds (None: no limit).

    ``connect`` bounds opening a TCP/TLS connection; ``read`` bounds the wait between two reads
    of the answer; ``total`` bounds the whole attempt. The defaults suit long agent runs: 10 s
    to connect and 300 s in all. There is no read limit by default: an execution may send no
    byte for minutes while its agents work, so only ``total`` can bound it (and a per-read
    timer costs CPU on every request).
    """

    connect: float | None = attrs.field(default=10.0, validator=_check_seconds)
    read: float | None = attrs.field(default=None, validator=_check_seconds)
    total: float | None = attrs.field(default=300.0, validator=_check_seconds)

    @classmethod
    def of(cls, value: TimeoutTypes) -> Timeout:
        """Normalise what users pass: a :class:`Timeout`, a number of seconds, or None.

        A number bounds the whole attempt; connecting keeps its own (shorter) default when the
        number is larger.
        """
        if value is None:
            return cls()
        if isinstance(value, Timeout):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = type(value).__name__
            raise InvalidContentError(
                f"timeout must be a number of seconds or amas_async.Timeout, not {kind}"
            )
        seconds = float(value)
        return cls(connect=min(10.0, seconds), read=None, total=seconds)


TimeoutTypes = Timeout | float | int | None


@attrs.frozen
class Limits:
    """Connection pool limits: ``max_connections`` in all, ``max_per_host`` to one host."""

    max_connections: int = 100
    max_per_host: int = 0  # 0: no per-host limit beyond max_connections
    keepalive_timeout: float = 30.0


@attrs.frozen(repr=False)
class ClientConfig:
    """Resolved settings of one client. The API key is kept out of ``repr``."""

    api_key: str
    base_url: str
    timeout: Timeout
    limits: Limits
    default_headers: Mapping[str, str]

    def __repr__(self) -> str:
        return f"ClientConfig(base_url={self.base_url!r}, timeout={self.timeout!r})"

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the base URL: the only place the API key is sent."""
        scheme, _, rest = self.base_url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"


def resolve_api_key(api_key: str | None) -> str:
    """The API key from the argument or ``AMAS_API_KEY``; a clear error when there is none."""
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    if key is None or not isinstance(key, str) or not key.strip():
        raise AmasError(
            "no API key: pass api_key=... or set the AMAS_API_KEY environment variable "
            "(keys are created in Atthene Agent Studio under Settings)"
        )
    if any(c in key for c in "\r\n\0"):
        raise AmasError("the API key contains a line break or NUL character")
    return key.strip()


def resolve_base_url(base_url: str | None) -> str:
    """The base URL from the argument, ``AMAS_BASE_URL`` or the default, without a trailing /."""
    url = base_url if base_url is not None else os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    if not isinstance(url, str):
        raise InvalidContentError(f"base_url must be a str, not {type(url).__name__}")
    url = url.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest or rest.startswith("/"):
        raise AmasError(f"base_url must be an absolute http(s) URL, got {url!r}")
    if "?" in url or "#" in url:
        raise AmasError(f"base_url must not contain a query or fragment, got {url!r}")
    return url


def make_config(
    *,
    api_key: str | None,
    base_url: str | None,
    timeout: TimeoutTypes,
    limits: Limits | None,
    default_headers: Mapping[str, str] | None,
) -> ClientConfig:
    """Resolve constructor arguments and the environment into a :class:`ClientConfig`."""
    headers = {"User-Agent": USER_AGENT}
    for name, value in (default_headers or {}).items():
        if name.lower() == "x-api-key":
            raise AmasError("pass the API key as api_key=..., not as a default header")
        headers[name] = value
    return ClientConfig(
        api_key=resolve_api_key(api_key),
        base_url=resolve_base_url(base_url),
        timeout=Timeout.of(timeout),
        limits=limits or Limits(),
        default_headers=headers,
    )

"""Frozen client settings: base URL, API key, timeouts, connection pool.

Everything here is resolved once, when the client is constructed, so that no request pays for
reading the environment and a misconfiguration fails at construction, not on the first call.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from ._version import __version__
from .errors import AmasError, InvalidContentError, InvalidRequestError

DEFAULT_BASE_URL = "https://api-be.atthene.com/api/v1"
API_KEY_ENV = "AMAS_API_KEY"
BASE_URL_ENV = "AMAS_BASE_URL"
INSECURE_HTTP_ENV = "AMAS_ALLOW_INSECURE_HTTP"
#: The default cap on one answer's body: far above any documented answer.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
USER_AGENT = f"amas-async/{__version__}"


class NotGiven(enum.Enum):
    """The type of :data:`NOT_GIVEN`: an argument left out, where None means "none"."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"


#: Default of arguments where None means something other than "left out":
#: ``with_options(timeout=None)`` sets the default ``Timeout()``, leaving it out keeps the client's.
NOT_GIVEN = NotGiven.NOT_GIVEN


def _seconds(*, optional: bool) -> Any:
    """The validator of a time limit: a positive, finite number of seconds (or None)."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if optional and value is None:
            return
        what = f"{type(instance).__name__}.{attribute.name}"
        tail = " or None" if optional else ""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = type(value).__name__
            raise InvalidContentError(f"{what} must be a number of seconds{tail}, not {kind}")
        if not math.isfinite(value) or value <= 0:
            raise InvalidRequestError(
                f"{what} must be a positive number of seconds{tail}, got {value!r}"
            )

    return check


_optional_seconds = _seconds(optional=True)


@attrs.frozen
class Timeout:
    """Time limits for one attempt of one request, in seconds (None: no limit).

    ``connect`` bounds opening a TCP/TLS connection; ``read`` bounds the wait between two reads
    of the answer; ``total`` bounds the whole attempt. The defaults suit long agent runs: 10 s
    to connect and 300 s in all. There is no read limit by default: an execution may send no
    byte for minutes while its agents work, so only ``total`` can bound it (and a per-read
    timer costs CPU on every request). A limit that runs out raises
    :class:`~amas_async.APITimeoutError` (retried as the :class:`~amas_async.RetryPolicy`
    says); a value that is not a positive number of seconds or None raises when built.
    """

    connect: float | None = attrs.field(default=10.0, validator=_optional_seconds)
    read: float | None = attrs.field(default=None, validator=_optional_seconds)
    total: float | None = attrs.field(default=300.0, validator=_optional_seconds)

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


def _count(unit: str, minimum: int) -> Any:
    """The validator of a count of ``unit``: an int of at least ``minimum``."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        what = f"{type(instance).__name__}.{attribute.name}"
        if isinstance(value, bool) or not isinstance(value, int):
            kind = type(value).__name__
            raise InvalidContentError(f"{what} must be an int ({unit}), not {kind}")
        if value < minimum:
            raise InvalidRequestError(f"{what} must be an int >= {minimum}, got {value!r}")

    return check


@attrs.frozen
class Limits:
    """Limits of the default transport: its connection pool and the size of an answer.

    ``max_connections`` in all (default 100), ``max_per_host`` to one host (default 0: no
    limit beyond ``max_connections``), idle connections kept ``keepalive_timeout`` seconds
    (default 30). ``max_response_bytes`` (keyword-only) caps how much of one answer the client
    reads (64 MiB by default, far above any documented answer; the size is that of the
    decoded body): a larger one fails with :class:`~amas_async.ResponseTooLargeError` instead
    of filling memory. Give it as ``AsyncAmas(limits=Limits(...))``; it configures the default
    transport, so it cannot be combined with ``transport=``. A value out of range (a count
    below 1, or below 0 for ``max_per_host``; seconds that are not positive) raises
    :class:`~amas_async.InvalidRequestError` when built, one of another type
    :class:`~amas_async.InvalidContentError`.
    """

    max_connections: int = attrs.field(default=100, validator=_count("connections", 1))
    max_per_host: int = attrs.field(  # 0: no per-host limit beyond max_connections
        default=0, validator=_count("connections", 0)
    )
    keepalive_timeout: float = attrs.field(default=30.0, validator=_seconds(optional=False))
    max_response_bytes: int = attrs.field(
        default=DEFAULT_MAX_RESPONSE_BYTES, validator=_count("bytes", 1), kw_only=True
    )


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


def resolve_base_url(base_url: str | None, allow_insecure_http: bool | None = None) -> str:
    """The base URL from the argument, ``AMAS_BASE_URL`` or the default, without a trailing /.

    Refused: anything but an absolute ``https``/``http`` URL; user info (``user:pass@``: the
    API key is the credential, and a password would end up in reprs and messages; none of it
    is ever quoted back); plain ``http`` to a host other than this machine, where the key
    would travel in clear text, unless ``allow_insecure_http`` (or, when that is None,
    ``AMAS_ALLOW_INSECURE_HTTP=1``) says so.
    """
    url = base_url if base_url is not None else os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    if not isinstance(url, str):
        raise InvalidContentError(f"base_url must be a str, not {type(url).__name__}")
    url = url.strip().rstrip("/")
    shown = _USERINFO.sub(r"\1", url, count=1)
    if shown != url:
        raise InvalidRequestError(
            f"base_url must not contain user info ('user:password@'); got {shown!r} with it "
            "removed. The API key is the credential: pass api_key=... (or set AMAS_API_KEY)"
        )
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest or rest.startswith("/"):
        raise AmasError(f"base_url must be an absolute http(s) URL, got {url!r}")
    if "?" in url or "#" in url:
        raise AmasError(f"base_url must not contain a query or fragment, got {url!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number 0-65535)
    except ValueError as exc:
        raise AmasError(f"base_url is not a valid URL ({exc}), got {url!r}") from None
    host = parts.hostname or ""
    if not host:
        raise AmasError(f"base_url has no host, got {url!r}")
    if parts.scheme.lower() == "http" and not is_loopback(host):
        allowed = allow_insecure_http
        if allowed is None:
            allowed = _env_flag(INSECURE_HTTP_ENV)
        if not allowed:
            raise InvalidRequestError(
                f"base_url {url!r} is plain http to {host!r}, which is not this machine: the "
                "API key would travel unencrypted. Use https://, or, for a server on a network "
                "you trust, opt in with AsyncAmas(..., allow_insecure_http=True) or the "
                f"environment variable {INSECURE_HTTP_ENV}=1"
            )
    return url


# User info: what comes before an "@" in the authority (the part up to the first "/", "?" or
# "#" after an optional "scheme://"), scheme or not.
_USERINFO = re.compile(r"^([^:/?#]*://)?[^/?#]*@")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a URL's host name or address) is this machine's loopback."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always loopback
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _env_flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise AmasError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), got {raw!r}")


def make_config(
    *,
    api_key: str | None,
    base_url: str | None,
    timeout: TimeoutTypes,
    limits: Limits | None,
    default_headers: Mapping[str, str] | None,
    allow_insecure_http: bool | None = None,
) -> ClientConfig:
    """Resolve constructor arguments and the environment into a :class:`ClientConfig`."""
    headers = {"User-Agent": USER_AGENT}
    for name, value in (default_headers or {}).items():
        if name.lower() == "x-api-key":
            raise AmasError("pass the API key as api_key=..., not as a default header")
        headers[name] = value
    return ClientConfig(
        api_key=resolve_api_key(api_key),
        base_url=resolve_base_url(base_url, allow_insecure_http),
        timeout=Timeout.of(timeout),
        limits=limits or Limits(),
        default_headers=headers,
    )

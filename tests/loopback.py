"""A scripted HTTP/1.1 server on a real loopback socket, for tests that need real connections.

Import as ``from loopback import Loopback, reply, ...``. Each request the server reads is
recorded (:class:`Received`) and answered by the next scripted *action*, or by a handler
function once the script is used up::

    async with Loopback() as server:
        server.script(disconnect(), reply(200, SESSION))
        async with amas.AsyncAmas(api_key="k", base_url=server.base_url) as client:
            await client.sessions.get("s1")
        assert [r.target for r in server.requests] == ["/api/v1/sessions/s1/"] * 2

Actions: :func:`reply` (a well-formed answer), :func:`raw` (bytes written as they are: lying
``Content-Length``, chunked or compressed bodies, garbage; :func:`head` and :func:`chunked`
build them), :func:`truncated`, :func:`disconnect` (after reading the request, nothing sent),
:func:`stall` (nothing sent) and :func:`stall_after_head` (status and headers, never the body).
A stalled connection stays open until the client closes it or the server stops. Leaving the
``async with`` closes every connection and ends every handler.

:func:`unaccepting_port` gives a port whose connects hang (for connect timeouts). Linux routes
all of 127.0.0.0/8 to the loopback interface, so ``Loopback(host=OTHER_HOST)`` is a second
host on the same machine (:func:`can_bind` says whether this system allows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import socket
import struct
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "OTHER_HOST",
    "Action",
    "Handler",
    "Loopback",
    "Received",
    "Wire",
    "can_bind",
    "chunked",
    "disconnect",
    "head",
    "raw",
    "redirect",
    "reply",
    "stall",
    "stall_after_head",
    "truncated",
    "unaccepting_port",
]

#: Another loopback address: a different host (and origin) than 127.0.0.1 on Linux.
OTHER_HOST = "127.0.0.2"


@dataclass
class Received:
    """One request as the server read it off the socket."""

    method: str
    target: str
    """The request target as sent: path and query."""
    headers: CIMultiDictProxy[str]
    """The request's headers; names compare case-insensitively."""
    body: bytes
    connection: int
    """Which connection it came on: 1 for the first the server accepted, and so on."""
    sent: int = 0
    """Bytes of answer the server wrote for it (so far, or before the client went away)."""

    @property
    def path(self) -> str:
        """The target without its query."""
        return self.target.partition("?")[0]

    def json(self) -> Any:
        """The body, parsed as JSON."""
        return json.loads(self.body)


class Wire:
    """The server's side of one connection, as an action sees it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.sent = 0

    async def send(self, data: bytes) -> None:
        """Write ``data`` and wait until the socket has taken it."""
        self._writer.write(data)
        self.sent += len(data)
        await self._writer.drain()

    async def hang(self) -> None:
        """Wait, sending nothing, until the client closes the connection or the server stops.

        Anything the client sends meanwhile is read and dropped.
        """
        while await self._reader.read(65536):
            pass

    def reset(self) -> None:
        """Abort the connection with a TCP reset instead of an orderly close."""
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._writer.transport.abort()


#: What the server does with one request. It returns True to keep the connection open for the
#: client's next request, False to close it.
Action = Callable[[Wire], Awaitable[bool]]
#: Chooses the action for a request once the script is used up.
Handler = Callable[[Received], Action]

#: An answer's body: bytes as they are, a str as text, or a JSON object or array.
Body = bytes | str | dict[str, Any] | list[Any] | None
HeaderTypes = Mapping[str, str] | Iterable[tuple[str, str]]


def _encode(body: Body, headers: Mapping[str, str] | None) -> tuple[bytes, dict[str, str]]:
    """The body's bytes, and the headers with a Content-Type for a JSON or text body."""
    fields = dict(headers or {})
    has_type = any(name.lower() == "content-type" for name in fields)
    if body is None:
        return b"", fields
    if isinstance(body, bytes):
        return body, fields
    if isinstance(body, str):
        if not has_type:
            fields["Content-Type"] = "text/plain; charset=utf-8"
        return body.encode(), fields
    if not has_type:
        fields["Content-Type"] = "application/json"
    return json.dumps(body).encode(), fields


def head(status: int, headers: HeaderTypes | None = None, *, reason: str | None = None) -> bytes:
    """A status line and ``headers``, up to and including the blank line; nothing is added.

    ``headers`` is a mapping or ``(name, value)`` pairs (for a name sent twice).
    """
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}"]
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    lines.extend(f"{name}: {value}" for name, value in pairs)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunked(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``chunks`` in chunked transfer coding, lazily, then the last (empty) chunk.

    For :func:`raw`: ``raw(head(200, {"Transfer-Encoding": "chunked"}), chunked(b"x" * 65536
    for _ in range(n)))`` streams ``n`` chunks without building the body in memory.
    """
    for chunk in chunks:
        if chunk:
            yield b"%x\r\n%b\r\n" % (len(chunk), chunk)
    yield b"0\r\n\r\n"


def reply(
    status: int = 200,
    body: Body = None,
    headers: Mapping[str, str] | None = None,
    *,
    close: bool = False,
) -> Action:
    """A complete answer with a correct ``Content-Length``.

    ``body`` is bytes (sent as they are), a str (``text/plain``) or a JSON value
    (``application/json``); a Content-Type in ``headers`` wins. ``close`` sends
    ``Connection: close`` and closes the connection after the answer.
    """
    content, fields = _encode(body, headers)
    fields["Content-Length"] = str(len(content))
    if close:
        fields["Connection"] = "close"
    data = head(status, fields) + content

    async def act(wire: Wire) -> bool:
        await wire.send(data)
        return not close

    return act


def redirect(status: int, location: str) -> Action:
    """A ``status`` (3xx) answer pointing at ``location``, with an empty body."""
    return reply(status, b"", {"Location": location})


def raw(*parts: bytes | Iterable[bytes], close: bool = True) -> Action:
    """Write ``parts`` exactly as given (an iterable of bytes is streamed piece by piece).

    Nothing is checked or added, so the bytes may lie about their length or be no HTTP at
    all. The connection is closed afterwards unless ``close=False``. An iterator is used up
    by the first request the action answers: give a fresh action to each (a handler can).
    """

    async def act(wire: Wire) -> bool:
        for part in parts:
            for piece in (part,) if isinstance(part, bytes) else part:
                await wire.send(piece)
        return not close

    return act


def truncated(
    body: Body,
    *,
    send: int | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Action:
    """An answer announcing ``body``'s full length that sends only ``send`` bytes, then closes.

    ``send`` defaults to half the body (rounded down); it must be shorter than the body.
    """
    content, fields = _encode(body, headers)
    count = len(content) // 2 if send is None else send
    if not 0 <= count < len(content):
        raise ValueError(f"send must be in [0, {len(content)}), got {count}")
    fields["Content-Length"] = str(len(content))
    return raw(head(status, fields), content[:count])


def disconnect(*, reset: bool = False) -> Action:
    """Close the connection after reading the request, answering nothing.

    ``reset=True`` aborts it with a TCP reset instead of an orderly close.
    """

    async def act(wire: Wire) -> bool:
        if reset:
            wire.reset()
        return False

    return act


def stall() -> Action:
    """Send nothing; keep the connection open until the client closes it or the server stops."""

    async def act(wire: Wire) -> bool:
        await wire.hang()
        return False

    return act


def stall_after_head(status: int = 200, headers: Mapping[str, str] | None = None) -> Action:
    """Send the status line and headers (``Content-Length: 100`` unless given), then stall."""
    fields = {"Content-Type": "application/json", "Content-Length": "100", **(headers or {})}

    async def act(wire: Wire) -> bool:
        await wire.send(head(status, fields))
        await wire.hang()
        return False

    return act


def _unscripted(request: Received) -> Action:
    return reply(418, f"loopback: no answer scripted for {request.method} {request.target}")


class Loopback:
    """A scripted HTTP/1.1 server on ``host`` (an ephemeral port), used as ``async with``.

    Requests are answered by the scripted actions in order (:meth:`script`), then by
    ``handler`` (a function of the :class:`Received` request returning an action); with
    neither, by a 418 that names the request. ``requests`` lists every request read, in
    order; ``connections`` counts the connections accepted and ``open_connections`` those
    still open. An exception raised by a handler or an action (a bug in the test) closes
    that connection and is raised again when the server stops.
    """

    def __init__(
        self, *actions: Action, host: str = "127.0.0.1", handler: Handler | None = None
    ) -> None:
        self.host = host
        self.port = 0
        self.handler = handler
        self.requests: list[Received] = []
        self.connections = 0
        self._script: list[Action] = list(actions)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._errors: list[Exception] = []

    def __repr__(self) -> str:
        return f"Loopback({self.url!r}, {len(self.requests)} requests)"

    @property
    def url(self) -> str:
        """``http://host:port``: the server's origin."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The origin with the API's path, ``/api/v1``: a client's ``base_url``."""
        return self.url + "/api/v1"

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed."""
        return len(self._tasks)

    def script(self, *actions: Action) -> None:
        """Answer the next requests with ``actions``, after those already scripted."""
        self._script.extend(actions)

    async def __aenter__(self) -> Loopback:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening, close every connection and end every handler.

        Raises the first exception a handler or an action raised, if any.
        """
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
        if self._errors:
            raise self._errors[0]

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:  # accepted just as the server stops
            writer.close()
            return
        self.connections += 1
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer, self.connections))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _next_action(self, request: Received) -> Action:
        if self._script:
            return self._script.pop(0)
        return (self.handler or _unscripted)(request)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int
    ) -> None:
        wire = Wire(reader, writer)
        try:
            while True:
                request = await _read_request(reader, number)
                if request is None:
                    return
                self.requests.append(request)
                action = self._next_action(request)
                wire.sent = 0
                try:
                    keep = await action(wire)
                finally:
                    request.sent = wire.sent
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return  # the client went away: nothing to answer
        except Exception as exc:  # a bug in the test's handler or action
            self._errors.append(exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader, number: int) -> Received | None:
    """The next request on a connection; None once the client closed it or sent no HTTP."""
    try:
        block = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # closed, between requests or in the middle of one
    request_line, *lines = block.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3:
        return None
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers.add(name.strip(), value.strip())
    try:
        if "chunked" in headers.get("Transfer-Encoding", "").lower():
            body = await _read_chunked(reader)
        else:
            body = await reader.readexactly(int(headers.get("Content-Length", "0")))
    except (ValueError, asyncio.IncompleteReadError):
        return None
    return Received(parts[0], parts[1], CIMultiDictProxy(headers), body, number)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked request body (trailers skipped); ValueError if it is not chunked coding."""
    pieces = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        pieces.append(await reader.readexactly(size))
        await reader.readexactly(2)
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass
    return b"".join(pieces)


def can_bind(host: str) -> bool:
    """Whether a server can listen on ``host`` here (127.0.0.2 outside Linux may not)."""
    try:
        with socket.socket() as sock:
            sock.bind((host, 0))
    except OSError:
        return False
    return True


@contextlib.contextmanager
def unaccepting_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port on ``host`` where a TCP connect hangs: for connect timeouts on loopback.

    The socket listens with a backlog of 0 and never accepts; a few connections fill its
    accept queue, after which Linux drops further SYNs, so ``connect()`` waits (and retries
    the SYN after 1 s, 3 s, ...) until its own timeout. The queue is checked full before
    the port is given; every socket is closed afterwards.
    """
    sockets: list[socket.socket] = []
    try:
        listener = socket.socket()
        sockets.append(listener)
        listener.bind((host, 0))
        listener.listen(0)
        address = listener.getsockname()
        probes: list[socket.socket] = []
        for _ in range(8):
            probe = socket.socket()
            sockets.append(probe)
            probes.append(probe)
            probe.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                probe.connect(address)
            if select.select([], [probe], [], 0.1)[1]:
                continue  # it got a place in the queue
            if select.select([], probes, [], 0)[1]:  # others got in, its SYN was dropped: full
                yield address[1]
                return
        raise RuntimeError("could not fill the accept queue: connects do not hang here")
    finally:
        for sock in sockets:
            sock.close()

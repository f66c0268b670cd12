"""Serving the emulator from a shell: its settings, and the loop that serves until stopped.

It serves until Ctrl-C (SIGINT) or SIGTERM (what containers and job schedulers send); either
ends it normally, the server closed. ``--agent FILE`` (repeatable) registers saved agents from
config files first (:func:`register_agent_files`); the banner lists their keys.

Two front-ends share this: ``python -m amas_async.testing`` (an argparse parser, so the testing
package never imports the CLI) and ``amas emulator`` (a click command in ``amas_async.cli``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:  # the server side loads only when an emulator is made
    from ._emulator import Emulator, RegisteredAgent

__all__ = ["AGENT_HELP", "SERVE_OPTIONS", "ServeOption", "register_agent_files", "serve"]

#: The help of ``--agent FILE``, which both front-ends take besides :data:`SERVE_OPTIONS`.
AGENT_HELP: Final = (
    "Register a saved agent from a YAML or JSON config file, keyed from its name (repeatable)."
)


class ServeOption(NamedTuple):
    """One setting of a served emulator: an :class:`Emulator` keyword and its shell option."""

    name: str
    type: type
    default: Any
    help: str

    @property
    def flag(self) -> str:
        """The shell option, ``--rate-limit`` for ``rate_limit``."""
        return "--" + self.name.replace("_", "-")


#: The settings both front-ends take, in the order of their help.
SERVE_OPTIONS: tuple[ServeOption, ...] = (
    ServeOption("host", str, "127.0.0.1", "Address to bind."),
    ServeOption("port", int, 8765, "Port (0: any free port)."),
    ServeOption("api_key", str, "amas-test-key", "Key to accept."),  # Emulator's default
    ServeOption("fault_rate", float, 0.0, "Share of calls to fail (0-1)."),
    ServeOption("seed", int, None, "Seed of the random faults."),
    ServeOption("latency", float, 0.0, "Seconds added to every answer."),
    ServeOption("rate_limit", float, None, "Requests per second allowed."),
    ServeOption("rate_burst", int, 10, "Burst of the rate limit."),
    ServeOption("session_concurrency", int, 1, "Executes at once per session."),
    ServeOption("turn_delay", float, 0.0, "Seconds every execute takes."),
    ServeOption(
        "processing_seconds", float, 0.5, "Seconds a file, collection or KB takes to process."
    ),
    ServeOption("page_size", int, None, "Paginate lists, this many per page (default: none)."),
    ServeOption(
        "validate_invalid_status", int, 200, "Status of /agent/validate/ for an invalid config."
    ),
)


def register_agent_files(
    emulator: Emulator, files: Iterable[str | os.PathLike[str]]
) -> list[RegisteredAgent]:
    """Register the agent of each config file in ``emulator``, keyed from its name.

    Raises a one-line :class:`ValueError` for a file that cannot be read or parsed, an
    invalid config, or two files whose agents would have the same key.
    """
    registered: dict[str, tuple[str, RegisteredAgent]] = {}
    for file in files:
        name = os.fspath(file)
        try:
            # (a Path: a string is always a file name here, never config text)
            agent = emulator.register_agent(Path(file))
        except OSError as exc:
            raise ValueError(f"cannot read agent file {name}: {exc.strerror or exc}") from None
        if agent.key in registered:
            raise ValueError(
                f"{registered[agent.key][0]} and {name} both make the agent key {agent.key!r}"
            )
        registered[agent.key] = (name, agent)
    return [agent for _, agent in registered.values()]


@contextlib.contextmanager
def _stop_on_sigterm(stop: asyncio.Event) -> Iterator[None]:
    """Set ``stop`` on SIGTERM while the block runs (where the loop can handle signals)."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    except (NotImplementedError, RuntimeError):  # Windows; a loop outside the main thread
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


async def _serve(emulator: Emulator, announce: Callable[[str], object]) -> None:
    await emulator.start()
    try:
        stop = asyncio.Event()
        with _stop_on_sigterm(stop):
            announce(f"AMAS emulator listening on {emulator.base_url}")
            announce(f"API key: {emulator.api_key}")
            for agent in emulator.agents:
                announce(f"Saved agent: {agent.key} ({agent.name})")
            announce(f"export AMAS_BASE_URL={emulator.base_url} AMAS_API_KEY={emulator.api_key}")
            announce("Press Ctrl-C to stop.")
            await stop.wait()
    finally:
        await emulator.stop()


def serve(emulator: Emulator, *, announce: Callable[[str], object] = print) -> None:
    """Serve ``emulator`` on a new event loop until Ctrl-C or SIGTERM; either ends it normally.

    ``announce`` receives the lines that tell where it listens. Raises :class:`OSError` when
    the address cannot be bound.
    """
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(emulator, announce))

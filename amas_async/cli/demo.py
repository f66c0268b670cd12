"""``amas demo``: the REST tutorial, step by step, on an embedded emulator.

Creates a session from the example YAML, executes, continues the conversation, uses session-
and request-level variables, uploads an image and asks about it, sends base64 and public-URL
image parts and a file part, reads the history, and handles an error, printing each step.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from .._client import AsyncAmas
from ..errors import NotFoundError
from ..models import Execution, FilePart, ImagePart, TextPart
from ._support import fail, out, run_with_client

__all__ = ["demo", "run_demo", "tiny_png"]


def tiny_png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (30, 144, 255)) -> bytes:
    """A small, valid PNG image of one colour (for demos and tests)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" + bytes(rgb) * width
    pixels = zlib.compress(row * height)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _reply(console: Console, result: Execution) -> None:
    console.print(f"  [bold cyan]assistant>[/] {escape(result.text)}")
    if result.usage is not None:
        console.print(
            f"  [dim]status={result.status} tokens in/out="
            f"{result.usage.input_tokens}/{result.usage.output_tokens}[/]"
        )


async def run_demo(console: Console, client: AsyncAmas, config_path: Path) -> None:
    """Run the tutorial with ``client`` (connected to an emulator), printing what happens."""
    console.rule("AMAS demo on a local emulator")
    console.print(f"emulator: {client.base_url}")

    console.print(f"\n[bold]1. Create a session[/] from {config_path.name}")
    session = await client.sessions.create(config_path)
    console.print(f"  session_id={session.id}\n  config_hash={session.config_hash}")

    console.print(
        "\n[bold]2. Execute[/] with session-level (user_name) and request-level (tone) inputs"
    )
    result = await session.execute(
        "Hello! I need help with my account.", inputs={"user_name": "Ada", "tone": "friendly"}
    )
    _reply(console, result)

    console.print("\n[bold]3. Continue the conversation[/] (user_name persists; tone is re-sent)")
    result = await session.execute("How do I reset my password?", inputs={"tone": "concise"})
    _reply(console, result)

    png = tiny_png()
    console.print(f"\n[bold]4. Upload an image[/] ({len(png)} bytes) and ask about it")
    upload = await client.images.upload(png, filename="dot.png")
    console.print(f"  url={upload.url} media_type={upload.media_type} size={upload.size}")
    result = await session.execute(
        [TextPart("What is shown in this image?"), upload], inputs={"tone": "curious"}
    )
    _reply(console, result)

    console.print("\n[bold]5. A base64 image part[/] (ImagePart.from_bytes)")
    result = await session.execute(
        [TextPart("And this one?"), ImagePart.from_bytes(png)], inputs={"tone": "brief"}
    )
    _reply(console, result)

    console.print("\n[bold]6. A public image URL and a file part[/]")
    result = await session.execute(
        [
            TextPart("Compare the picture with the manual."),
            ImagePart("https://example.com/image.jpg"),
            FilePart("https://example.com/doc.pdf"),
        ],
        inputs={"tone": "precise"},
    )
    _reply(console, result)

    console.print("\n[bold]7. Read the history[/]")
    page = await session.messages(limit=4)
    for message in page.messages:
        console.print(f"  {message.role}> {escape(message.text)[:70]}")
    console.print(f"  [dim]{len(page.messages)} of {page.total}, has_more={page.has_more}[/]")
    status = await session.status()
    console.print(f"  status={status.status} messages={status.message_count}")

    console.print("\n[bold]8. A handled error[/]: execute in a session that does not exist")
    try:
        await client.runtime.execute("no-such-session", "Hello?")
    except NotFoundError as exc:
        console.print(f"  caught {type(exc).__name__}: {escape(str(exc))}")

    console.rule("done")


def _example_config() -> Path:
    """The tutorial's example config: shipped in the wheel, or the repository's examples/."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_examples", package.parent / "examples"):
        path = candidate / "support_agent.yaml"
        if path.is_file():
            return path
    fail("the example config support_agent.yaml is missing from this installation")


@click.command(short_help="Walk the REST tutorial on an embedded emulator.")
def demo() -> None:
    """Walk the REST tutorial on an embedded emulator, printing every step."""
    config = _example_config()
    run_with_client(True, lambda client: run_demo(out, client, config))

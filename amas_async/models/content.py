"""What a message can carry: text, images (inline or uploaded) and files."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .. import _readers
from .._multipart import guess_media_type, read_file, sniff_media_type
from ..errors import InvalidContentError, InvalidFileError, InvalidRequestError, clip

__all__ = [
    "Content",
    "ContentPart",
    "FilePart",
    "ImagePart",
    "ImageUpload",
    "TextPart",
    "check_part_url",
]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*\Z")
_WEB_SCHEMES = ("http", "https")


def check_part_url(url: object, part: str, *, image: bool) -> str:
    """``url`` if a content part may carry it, else :class:`InvalidContentError` naming ``part``.

    Parts carry ``https://`` or ``http://`` URLs with a host; image parts also base64
    ``data:`` URLs. Anything else (``file:``, ``javascript:``, a bare path) would ask the
    server to read from somewhere it must not, so it is refused before anything is sent.
    """
    if not isinstance(url, str):
        raise InvalidContentError(f"{part}: the URL must be a str, not {type(url).__name__}")
    scheme, colon, rest = url[:2048].partition(":")
    shown = clip(url, 80)
    if not colon or not _SCHEME.match(scheme):
        hint = (
            "use ImagePart.from_path() for a local image, or client.images.upload()"
            if image
            else "upload the file first and use its URL"
        )
        raise InvalidContentError(
            f"{part}: {shown!r} is not an absolute URL; give an https:// URL ({hint})"
        )
    scheme = scheme.lower()
    if scheme in _WEB_SCHEMES:
        host = (
            rest[2:].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0] if rest[:2] == "//" else ""
        )
        if not host.rpartition("@")[2]:
            raise InvalidContentError(f"{part}: {shown!r} has no host")
        return url
    if scheme == "data" and image:
        if not rest[:6].lower() == "image/":
            raise InvalidContentError(
                f"{part}: {shown!r} is a data: URL of no image (it must start data:image/...)"
            )
        return url
    allowed = "https, http or data (base64 images)" if image else "https or http"
    raise InvalidContentError(
        f"{part}: URL scheme {scheme!r} is not allowed; content parts take {allowed} URLs"
    )


def _checked_url(part: str, *, image: bool) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        check_part_url(value, part, image=image)

    return check


def _check_text(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidContentError(f"TextPart: the text must be a str, not {type(value).__name__}")


@attrs.frozen
class TextPart:
    """A text part of a message: ``{"type": "text", "text": ...}``.

    ``text`` must be a str; anything else raises :class:`InvalidContentError` when built.
    """

    text: str = attrs.field(validator=_check_text)
    """The text."""


@attrs.frozen
class ImagePart:
    """An image part: ``{"type": "image_url", "image_url": {"url": ...}}``.

    ``url`` is a public ``https://`` URL, the ``url`` of an :class:`ImageUpload`, or a base64
    ``data:`` URL (see :meth:`from_path` and :meth:`from_bytes`). Any other URL (``file:``, a
    bare path, a ``data:`` URL of no image) raises :class:`InvalidContentError` when built,
    so nothing asks the server to read from where it must not.
    """

    url: str = attrs.field(validator=_checked_url("ImagePart", image=True))
    """Where the image is: an ``https://`` (or ``http://``) URL or a ``data:`` URL."""

    @classmethod
    def from_bytes(
        cls, data: bytes | bytearray | memoryview, media_type: str | None = None
    ) -> ImagePart:
        """An image part carrying ``data`` inline as a base64 ``data:`` URL.

        The media type is read from the image's signature when not given. Empty data raises
        :class:`InvalidFileError`, and data whose type cannot be told (pass ``media_type``)
        :class:`InvalidRequestError`.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidContentError(f"data must be bytes, not {type(data).__name__}")
        raw = bytes(data)
        if not raw:
            raise InvalidFileError(None, "the image is empty (0 bytes)")
        media_type = media_type or sniff_media_type(raw[:32])
        if media_type is None:
            raise InvalidRequestError(
                "cannot tell the image's media type from its content; pass media_type="
            )
        return cls(f"data:{media_type};base64,{base64.b64encode(raw).decode('ascii')}")

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], media_type: str | None = None) -> ImagePart:
        """An image part carrying the file at ``path`` inline as a base64 ``data:`` URL.

        The media type comes from the file's signature, else its name, when not given. A
        missing file raises :class:`InputFileNotFoundError`, an empty or unreadable one
        :class:`InvalidFileError`. The file is read whole: for large images prefer
        ``client.images.upload(path)``, which streams the file and returns a URL.
        """
        name = os.fspath(path)
        raw = read_file(name)  # a regular, non-empty, readable file, or a clear error
        media_type = media_type or guess_media_type(name, raw[:32])
        if media_type is None:
            raise InvalidRequestError(f"cannot tell the media type of {name!r}; pass media_type=")
        return cls.from_bytes(raw, media_type)


@attrs.frozen
class FilePart:
    """A file part: ``{"type": "file", "file_url": ...}``; ``url`` is an ``https://`` URL.

    Another scheme raises :class:`InvalidContentError` when built: upload a local file first
    and use its URL.
    """

    url: str = attrs.field(validator=_checked_url("FilePart", image=False))
    """Where the file is: an ``https://`` (or ``http://``) URL."""


@attrs.frozen
class ImageUpload(_readers.Record):
    """The answer of ``POST /images/upload/``: where the image now lives.

    Put it in a content list as is, or use ``ImagePart(upload.url)``.
    """

    url: str
    """The uploaded image's URL, for an image part."""
    media_type: str | None = None
    """Its media type, such as ``image/png``, when the server says."""
    size: int | None = None
    """Its size in bytes, when the server says."""
    raw: Mapping[str, Any] = attrs.field(factory=dict, kw_only=True, repr=False, eq=False)
    """The answer as received."""
    attempts: int = attrs.field(default=1, kw_only=True, eq=False)
    """How many attempts the upload took (more than 1 after retries)."""


ContentPart = TextPart | ImagePart | FilePart | ImageUpload | Mapping[str, Any]
"""One part of a message's content: a part object or a mapping in the wire shape."""
Content = str | ContentPart | Sequence[ContentPart]
"""What ``execute`` takes as a message: text, one part, or a list of parts."""

"""File inputs: validate early, stream from disk, a fresh body for every attempt.

A :class:`MultipartBody` is an immutable description of a multipart form, not a body: the
transport builds a fresh payload from it for each attempt, so a retried upload re-streams the
same bytes from the start (an HTTP library's form object can usually be sent only once). A path
is opened per attempt and streamed in chunks, never read whole into memory.
"""

from __future__ import annotations

import io
import mimetypes
import os
import stat
from collections.abc import Sequence
from typing import BinaryIO

import attrs

from .errors import (
    InputFileNotFoundError,
    InvalidContentError,
    InvalidFileError,
    InvalidRequestError,
)

FileTypes = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO

# Leading bytes of the image formats a vision model can take.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"BM", 0, "image/bmp"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
)


def sniff_media_type(head: bytes) -> str | None:
    """The image media type told by the first bytes of a file, or None."""
    for signature, offset, media_type in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1"):
        return "image/heic"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "image/avif"
    return None


def guess_media_type(filename: str | None, head: bytes) -> str | None:
    """Media type from the content's signature, else from the file name."""
    sniffed = sniff_media_type(head)
    if sniffed:
        return sniffed
    if filename:
        guessed, _ = mimetypes.guess_type(filename)
        if guessed:
            return guessed
    return None


@attrs.frozen
class FileSource:
    """Where the bytes of an upload come from: a path (re-opened per attempt) or memory."""

    path: str | None = None
    data: bytes | None = None
    size: int = 0

    def open(self) -> BinaryIO:
        """A fresh binary stream positioned at the start (blocking for paths: call in a thread)."""
        if self.path is not None:
            try:
                return open(self.path, "rb")
            except FileNotFoundError:
                raise InputFileNotFoundError(self.path) from None
            except OSError as exc:  # gone unreadable since it was checked
                raise InvalidFileError(self.path, _unreadable(exc)) from exc
        return io.BytesIO(self.data or b"")


@attrs.frozen
class FileField:
    """One file field of a multipart form."""

    name: str
    filename: str
    media_type: str
    source: FileSource


@attrs.frozen
class MultipartBody:
    """An immutable multipart form: plain fields and file fields, rebuilt per attempt."""

    files: Sequence[FileField]
    fields: Sequence[tuple[str, str]] = ()


def _unreadable(exc: OSError) -> str:
    return f"it cannot be read ({exc.strerror or exc})"


def checked_path(path: str) -> int:
    """The size of the regular, non-empty file at ``path``, or a clear error (nothing sent).

    :class:`InputFileNotFoundError` when nothing is there; :class:`InvalidFileError` for a
    directory, a device or pipe, an empty file, or one that cannot be read.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputFileNotFoundError(path) from None
    except OSError as exc:
        raise InvalidFileError(path, _unreadable(exc)) from exc
    if stat.S_ISDIR(info.st_mode):
        raise InvalidFileError(path, "it is a directory; give the path of a file")
    if not stat.S_ISREG(info.st_mode):
        raise InvalidFileError(path, "it is not a regular file (a device, pipe or socket)")
    if info.st_size == 0:
        raise InvalidFileError(path, "it is empty (0 bytes)")
    return info.st_size


def read_head(path: str, size: int = 32) -> bytes:
    """The first ``size`` bytes of a file :func:`checked_path` accepted."""
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError as exc:
        raise InvalidFileError(path, _unreadable(exc)) from exc


def read_file(path: str) -> bytes:
    """The whole content of the regular, non-empty file at ``path``, or a clear error."""
    return read_head(path, checked_path(path))


def _text_mode(name: object) -> InvalidContentError:
    what = f"the file object {name!r}" if isinstance(name, str) else "the file object"
    return InvalidContentError(f"{what} is open in text mode; open it with 'rb' for an upload")


def file_source(file: object, *, filename: str | None) -> tuple[FileSource, str | None, bytes]:
    """Validate a user's file argument: (source, default filename, first bytes).

    Paths must be regular, non-empty, readable files; bytes are kept; binary file objects are
    read from their current position (once, so that every attempt can send the same bytes).
    A text-mode file object is refused, before it is read. Empty content is refused whatever
    its form: an upload of nothing is a mistake.
    """
    if isinstance(file, (str, os.PathLike)):
        path = os.fspath(file)
        if not isinstance(path, str):
            raise InvalidContentError("a file path must be a str or os.PathLike[str]")
        size = checked_path(path)
        return FileSource(path=path, size=size), os.path.basename(path), read_head(path)
    if isinstance(file, (bytes, bytearray, memoryview)):
        data = bytes(file)
        if not data:
            raise InvalidFileError(None, "the bytes given are empty (0 bytes)")
        return FileSource(data=data, size=len(data)), filename, data[:32]
    read = getattr(file, "read", None)
    if callable(read):
        name = getattr(file, "name", None)
        if isinstance(file, io.TextIOBase):  # read() would decode, or fail to, and give str
            raise _text_mode(name)
        try:
            data = read()
        except UnicodeDecodeError:  # a text reader of another kind, on binary content
            raise _text_mode(name) from None
        if isinstance(data, str):
            raise _text_mode(name)
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidContentError("file.read() must return bytes")
        if not data:
            where = repr(name) if isinstance(name, str) else "the file object"
            raise InvalidFileError(
                name if isinstance(name, str) else None,
                f"reading {where} from its current position gave 0 bytes",
            )
        default_name = os.path.basename(name) if isinstance(name, str) else None
        return FileSource(data=bytes(data), size=len(data)), default_name, bytes(data[:32])
    raise InvalidContentError(
        "file must be a path (str or os.PathLike), bytes, or a binary file object, "
        f"not {type(file).__name__}"
    )


def image_form(
    file: object, *, filename: str | None, media_type: str | None, field: str = "image"
) -> MultipartBody:
    """The multipart form of an image upload, validated before anything is sent."""
    source, default_name, head = file_source(file, filename=filename)
    name = filename or default_name
    if media_type is None:
        media_type = guess_media_type(name, head)
        if media_type is None:
            raise InvalidRequestError(
                "cannot tell the image's media type from its name or content; "
                "pass media_type='image/png' (or the right one)"
            )
    if not media_type.startswith("image/"):
        raise InvalidRequestError(f"only images can be uploaded, got media type {media_type!r}")
    if name is None:
        extension = mimetypes.guess_extension(media_type) or ""
        name = f"upload{extension}"
    _check_filename(name)
    return MultipartBody(files=(FileField(field, name, media_type, source),))


def document_form(
    file: object,
    *,
    filename: str | None,
    media_type: str | None,
    fields: Sequence[tuple[str, str]] = (),
    field: str = "file",
) -> MultipartBody:
    """The multipart form of a document upload (any type), validated before anything is sent.

    The media type defaults to what the name (or, for images, the content) says, else
    ``application/octet-stream``; ``fields`` are plain form fields sent before the file.
    """
    source, default_name, head = file_source(file, filename=filename)
    name = filename or default_name
    if media_type is None:
        media_type = guess_media_type(name, head) or "application/octet-stream"
    elif not isinstance(media_type, str) or "/" not in media_type:
        raise InvalidRequestError(f"media_type must look like 'type/subtype', got {media_type!r}")
    if name is None:
        raise InvalidRequestError(
            "an upload from bytes or an unnamed file object needs filename='name.ext'"
        )
    _check_filename(name)
    return MultipartBody(files=(FileField(field, name, media_type, source),), fields=tuple(fields))


def _check_filename(name: str) -> None:
    if any(c in name for c in '\r\n"'):
        raise InvalidRequestError(f"the file name {name!r} contains a quote or a line break")

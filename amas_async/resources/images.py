"""``client.images``: upload an image to get a URL to use in an image part."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import _readers, _serde
from .._multipart import FileTypes, image_form
from ..models import ImageUpload
from ._base import AsyncResource


class AsyncImages(AsyncResource):
    """Image uploads (``POST /images/upload/``)."""

    __slots__ = ()

    async def upload(
        self, file: FileTypes, *, filename: str | None = None, media_type: str | None = None
    ) -> ImageUpload:
        """Upload an image; returns its URL, media type and size.

        ``file`` is a path (streamed from disk, never read whole), bytes, or a binary file
        object; ``filename`` names it in the form (default: the path's name). The media type is
        read from the content's first bytes, else the name, when ``media_type`` is not given.
        A missing file raises :class:`InputFileNotFoundError`, an empty or unreadable one
        :class:`InvalidFileError`, and one that is not an image (or whose type cannot be told)
        :class:`InvalidRequestError`, all before anything is sent.

        Returns an :class:`ImageUpload`: put it in an ``execute`` content list as it is.
        """
        form = image_form(file, filename=filename, media_type=media_type)
        return await self._client._request(
            "POST", "/images/upload/", multipart=form, parse=parse_image_upload
        )


_read_upload = _readers.reader(ImageUpload, "image upload", omit=("attempts",))


def parse_image_upload(body: Any) -> ImageUpload:
    """An :class:`ImageUpload` from ``POST /images/upload/``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("url"), str):
        raise _serde.invalid_answer("image upload", body, "no 'url' string")
    fields = {
        "url": body["url"],
        "media_type": body.get("media_type"),
        "size": body.get("size"),
        "raw": body,
    }
    return _read_upload(fields, body)

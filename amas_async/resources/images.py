"""``client.images``: upload an image to get a URL to use in an image part."""

from __future__ import annotations

from .._multipart import FileTypes, image_form
from .._serde import parse_image_upload
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
        object. The media type is guessed from the content and name when not given; a missing
        file or a non-image raises before anything is sent.
        """
        form = image_form(file, filename=filename, media_type=media_type)
        return await self._client._request(
            "POST", "/images/upload/", multipart=form, parse=parse_image_upload
        )

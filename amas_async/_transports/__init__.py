"""Transports: what sends one attempt of a request. aiohttp's is the default."""

from .aiohttp import AiohttpTransport

__all__ = ["AiohttpTransport"]

"""``client.agents``: saved agents (``/agent/``, singular in the API's paths)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from .._validation import path_segment
from ..errors import (
    BadRequestError,
    InvalidContentError,
    ResponseValidationError,
    UnprocessableEntityError,
)
from ..models import Agent, ConfigValidation
from ._answers import parse_agent, parse_validation
from ._base import AsyncResource, collect, ignore_body, iterate, json_body
from ._config_body import ConfigTypes, config_body


class AsyncAgents(AsyncResource):
    """Saved agents: list, read, create, update, delete, and validate configs.

    The API's path is singular: ``/agent/``. A saved agent is started with
    ``client.sessions.from_agent(agent.agent_key)``.
    """

    __slots__ = ()

    async def list(self) -> list[Agent]:
        """Every saved agent of the account, as a list of :class:`Agent` (all pages).

        The docs show a bare JSON array; a Django REST page (``{count, next, results}``) is
        read too, following ``next`` links on the API's own origin only.
        """
        return await collect(self.iter())

    def iter(self) -> AsyncIterator[Agent]:
        """Every saved agent, for ``async for``, fetched a page at a time.

        Only ``next`` links on the API's origin and under its base URL are followed; another
        raises :class:`ResponseValidationError` (it would carry the API key elsewhere).
        """
        return iterate(self._client, "/agent/", None, parse_agent, "agent")

    async def get(self, agent_id: str) -> Agent:
        """One saved agent, by id; an unknown id raises :class:`NotFoundError`."""
        return await self._client._request("GET", _path(agent_id), parse=parse_agent)

    async def create(self, config: ConfigTypes) -> Agent:
        """Save an agent from a config; sends ``{"system_config": <config>}``.

        ``config`` is a :class:`SessionConfig`, an :class:`AgentConfig` (the flat
        single-agent form), a mapping in the wire shape, YAML text, or a path to a YAML or
        JSON file (text goes as written, YAML as ``application/yaml``). The config is
        checked locally first (it needs a ``name``: the agent key is derived from it).
        Knowledge-base references inside it go as given (the docs use both
        ``knowledge_base_id`` and ``id``). Returns the saved :class:`Agent`, with its ``id`` and
        ``agent_key``. A config that cannot be valid raises :class:`ConfigValidationError`
        before sending. Not retried where it may have run: a retried create could save two
        agents.
        """
        content, content_type = config_body(config, wrap="system_config")
        return await self._client._request(
            "POST",
            "/agent/",
            content=content,
            content_type=content_type,
            idempotent=False,
            parse=parse_agent,
        )

    async def update(self, agent_id: str, partial: Mapping[str, Any]) -> Agent:
        """Change part of a saved agent's config: ``PATCH {"system_config": partial}``.

        ``partial`` holds only the fields to change (``{"llm_config": {"temperature": 0.8}}``);
        it is not checked as a whole config (a non-mapping raises
        :class:`InvalidContentError`). The server answers with the updated :class:`Agent`, a
        new ``config_hash`` and ``updated_at``.
        """
        if not isinstance(partial, Mapping):
            raise InvalidContentError(
                f"partial must be a mapping of config fields, not {type(partial).__name__}"
            )
        content = json_body({"system_config": partial}, "partial")
        return await self._client._request(
            "PATCH", _path(agent_id), content=content, parse=parse_agent
        )

    async def delete(self, agent_id: str) -> None:
        """Delete a saved agent: ``DELETE /agent/{id}/`` (listed in the docs, not described).

        Any 2xx (a 204 with no body included) is success; returns None.
        """
        await self._client._request("DELETE", _path(agent_id), parse=ignore_body)

    async def validate(self, config: ConfigTypes) -> ConfigValidation:
        """Ask the server whether a config is valid; sends the config itself.

        ``config`` takes the same forms as :meth:`create`. Returns a
        :class:`ConfigValidation` (``valid``, ``message``, ``errors``) whether the server
        answers an invalid config with 200 or with 400 or 422 (the docs do not say which):
        test ``valid``, not the object. Only what cannot be sent at all (a missing file, a
        body that is not a mapping) raises locally; the config's content is the server's to
        judge.
        """
        content, content_type = config_body(config, check=False)
        try:
            return await self._client._request(
                "POST",
                "/agent/validate/",
                content=content,
                content_type=content_type,
                parse=parse_validation,
            )
        except (BadRequestError, UnprocessableEntityError) as exc:
            try:
                return parse_validation(exc.body)  # the invalid case, answered with a 4xx
            except ResponseValidationError:
                raise exc from None


def _path(agent_id: str) -> str:
    return f"/agent/{path_segment(agent_id, 'agent_id')}/"


__all__ = ["AsyncAgents"]

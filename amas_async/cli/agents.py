"""``amas agents list|get|create|validate|delete``: saved agents (``/agent/``)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape

from .._client import AsyncAmas
from ..models import Agent
from ._support import json_option, out, print_fields, print_json, print_rows, with_client

__all__ = ["agents"]

_CONFIG = click.Path(dir_okay=False, path_type=Path)
_FIELDS = (
    "id",
    "agent_key",
    "name",
    "architecture",
    "entry_point",
    "version_number",
    "config_hash",
    "is_public",
    "is_shared",
    "owner",
    "company",
    "created_at",
    "updated_at",
)


def _print_agent(agent: Agent, *, config: bool = False) -> None:
    print_fields(agent, _FIELDS)
    if config and agent.system_config:
        out.print("system_config:")
        out.print(escape(json.dumps(dict(agent.system_config), indent=2, default=str)))


@click.group()
def agents() -> None:
    """Save, list, inspect, validate and delete agents."""


@agents.command("list")
@json_option
@with_client
async def agents_list(client: AsyncAmas, as_json: bool) -> None:
    """List the saved agents: id, key, name and version."""
    found = await client.agents.list()
    if as_json:
        print_json([agent.raw for agent in found])
        return
    print_rows(
        ((a.id, a.agent_key, a.name, a.version_number) for a in found),
        header=("id", "key", "name", "version"),
        empty="no saved agents",
    )


@agents.command("get")
@click.argument("agent_id")
@json_option
@with_client
async def agents_get(client: AsyncAmas, agent_id: str, as_json: bool) -> None:
    """Show a saved agent, with its config."""
    agent = await client.agents.get(agent_id)
    if as_json:
        print_json(agent.raw)
        return
    _print_agent(agent, config=True)


@agents.command("create")
@click.argument("config", type=_CONFIG)
@json_option
@with_client
async def agents_create(client: AsyncAmas, config: Path, as_json: bool) -> None:
    """Save an agent from a YAML or JSON config file (it needs a name).

    The file goes to the server as written. The agent's key, derived from its name, starts
    sessions: amas session from-agent KEY.
    """
    agent = await client.agents.create(config)
    if as_json:
        print_json(agent.raw)
        return
    _print_agent(agent)


@agents.command("validate")
@click.argument("config", type=_CONFIG)
@json_option
@with_client
async def agents_validate(client: AsyncAmas, config: Path, as_json: bool) -> None:
    """Check a config file with the server; exit 1 if invalid.

    Prints "valid", or "invalid" and each field error the server reported; exit status 1
    when the config is invalid.
    """
    verdict = await client.agents.validate(config)
    if as_json:
        print_json(verdict.raw)
    elif verdict.valid:
        out.print(f"valid: {escape(verdict.message)}" if verdict.message else "valid")
    else:
        out.print(f"invalid: {escape(verdict.message)}" if verdict.message else "invalid")
        for error in verdict.errors:
            out.print(f"  {escape(str(error))}")
    if not verdict.valid:
        raise SystemExit(1)


@agents.command("delete")
@click.argument("agent_id")
@json_option
@with_client
async def agents_delete(client: AsyncAmas, agent_id: str, as_json: bool) -> None:
    """Delete a saved agent."""
    await client.agents.delete(agent_id)
    if as_json:
        print_json({"id": agent_id, "deleted": True})  # the API answers with no body
        return
    out.print(f"deleted agent {escape(agent_id)}")

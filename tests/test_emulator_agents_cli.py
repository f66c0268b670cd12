"""Saved agents in the emulator: ``register_agent`` from a ``SessionConfig`` or a file, and
``amas emulator --agent FILE`` / ``python -m amas_async.testing --agent FILE``; also the
``--json`` of ``amas session create|from-agent|get``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from helpers import serving

import amas_async as amas
from amas_async.cli import main
from amas_async.testing import Emulator
from amas_async.testing.__main__ import main as serve_main

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "support_agent.yaml"
HELPER_JSON = {"name": "Helper Agent", "agent_type": "llm_agent", "system_prompt": "Help."}


def _key_of(name: str) -> str:
    """The key the docs derive from an agent's name ("Support Agent" -> support_agent)."""
    return "_".join(re.findall(r"[0-9a-z]+", name.lower()))


EXAMPLE_NAME = yaml.safe_load(EXAMPLE.read_text())["name"]
EXAMPLE_KEY = _key_of(EXAMPLE_NAME)


@pytest.fixture
def helper_file(tmp_path: Path) -> Path:
    path = tmp_path / "helper.json"
    path.write_text(json.dumps(HELPER_JSON))
    return path


# ---------------------------------------------------------------- Emulator.register_agent


async def test_register_agent_takes_a_session_config(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas
) -> None:
    config = amas.SessionConfig(name="Support Agent", agent_type="llm_agent")
    agent = amas_emulator.register_agent(config)
    assert agent.key == "support_agent"
    assert agent.config == {"name": "Support Agent", "agent_type": "llm_agent"}
    other = amas_emulator.register_agent(
        amas.SessionConfig.from_yaml(str(EXAMPLE)), agent_key="support"
    )
    assert other.key == "support"
    # the store behind /agent/ and /sessions/from-agent/
    listed = {found.agent_key for found in await amas_client.agents.list()}
    assert listed == {"support", "support_agent"}
    session = await amas_client.sessions.from_agent("support_agent")
    assert session.agent_id == agent.id
    reply = await session.execute("Hello")
    assert reply.messages


@pytest.mark.parametrize("kind", ["str", "Path"])
async def test_register_agent_takes_a_file(
    amas_emulator: Emulator, amas_client: amas.AsyncAmas, helper_file: Path, kind: str
) -> None:
    example = str(EXAMPLE) if kind == "str" else EXAMPLE
    agent = amas_emulator.register_agent(example)
    assert agent.key == EXAMPLE_KEY
    assert agent.config == yaml.safe_load(EXAMPLE.read_text())
    assert amas_emulator.register_agent(helper_file).key == "helper_agent"  # JSON
    session = await amas_client.sessions.from_agent(EXAMPLE_KEY)
    assert session.agent_id == agent.id


def test_register_agent_takes_config_text() -> None:
    emu = Emulator()
    assert emu.register_agent("name: Text Agent\nagent_type: llm_agent\n").key == "text_agent"
    assert emu.register_agent(json.dumps(HELPER_JSON)).key == "helper_agent"
    assert [agent.key for agent in emu.agents] == ["text_agent", "helper_agent"]


def test_register_agent_reports_bad_files(tmp_path: Path) -> None:
    emu = Emulator()
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nagents: [\n")
    with pytest.raises(ValueError, match=r"broken\.yaml: not valid YAML: .*\(line 3, column 1\)$"):
        emu.register_agent(broken)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{'name': 1}")
    with pytest.raises(ValueError, match=r"bad\.json: not valid JSON: .*\(line 1, column 2\)$"):
        emu.register_agent(bad_json)
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("name: Broken\nagent_type: wizard\n")
    with pytest.raises(ValueError, match=r"^Invalid agent config in .*invalid\.yaml: .*wizard"):
        emu.register_agent(invalid)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: Caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.yaml: not valid UTF-8$"):
        emu.register_agent(latin)
    with pytest.raises(FileNotFoundError):
        emu.register_agent(tmp_path / "missing.yaml")
    with pytest.raises(TypeError, match="file path, got int"):
        emu.register_agent(42)  # type: ignore[arg-type]
    assert emu.agents == []


# ---------------------------------------------------------------- serving with --agent

SERVERS = {"amas": ["amas_async.cli", "emulator"], "python-m": ["amas_async.testing"]}


@pytest.mark.parametrize("command", SERVERS.values(), ids=SERVERS.keys())
async def test_served_emulator_registers_agent_files(command: list[str], helper_file: Path) -> None:
    with serving(command, "--agent", str(EXAMPLE), "--agent", str(helper_file)) as banner:
        match = re.fullmatch(r"AMAS emulator listening on (http://\S+)", banner[0])
        assert match, banner
        assert banner[2:4] == [
            f"Saved agent: {EXAMPLE_KEY} ({EXAMPLE_NAME})",
            "Saved agent: helper_agent (Helper Agent)",
        ]
        async with amas.AsyncAmas(base_url=match.group(1), api_key="amas-test-key") as client:
            listed = {agent.agent_key for agent in await client.agents.list()}
            assert listed == {EXAMPLE_KEY, "helper_agent"}
            session = await client.sessions.from_agent("helper_agent")
            assert session.agent_name == "Helper Agent"
            example = await client.sessions.from_agent(EXAMPLE_KEY)
            reply = await example.execute("Hi", inputs={"user_name": "Ada", "tone": "calm"})
            assert "for Ada" in reply.messages[-1].text


@pytest.fixture
def bad_files(tmp_path: Path, helper_file: Path) -> dict[str, tuple[list[str], str]]:
    """Arguments of a bad --agent, and the one-line error each gives."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nagents: [\n")
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("name: Broken\nagent_type: wizard\n")
    twin = tmp_path / "twin.yaml"
    twin.write_text("name: helper-agent\nagent_type: llm_agent\n")
    return {
        "unparsable": (["--agent", str(broken)], f"error: {broken}: not valid YAML: "),
        "missing": (
            ["--agent", str(tmp_path / "none.yaml")],
            f"error: cannot read agent file {tmp_path / 'none.yaml'}: No such file",
        ),
        "invalid": (
            ["--agent", str(helper_file), "--agent", str(invalid)],
            f"error: Invalid agent config in {invalid}: ",
        ),
        "same key": (
            ["--agent", str(helper_file), "--agent", str(twin)],
            f"error: {helper_file} and {twin} both make the agent key 'helper_agent'",
        ),
    }


@pytest.mark.parametrize("case", ["unparsable", "missing", "invalid", "same key"])
def test_a_bad_agent_file_is_one_line_and_status_1(
    bad_files: dict[str, tuple[list[str], str]], case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args, message = bad_files[case]
    result = CliRunner().invoke(main, ["emulator", "--port", "0", *args])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(message), result.output
    assert result.output.count("\n") == 1
    assert serve_main(["--port", "0", *args]) == 1
    stderr = capsys.readouterr().err
    assert stderr.startswith(message), stderr
    assert stderr.count("\n") == 1


# ---------------------------------------------------------------- session ... --json


def test_session_commands_print_json(served_emulator: Emulator) -> None:
    runner = CliRunner()
    created = runner.invoke(main, ["session", "create", str(EXAMPLE), "--json"])
    assert created.exit_code == 0, created.output
    answer = json.loads(created.output)
    assert set(answer) >= {"session_id", "config_hash"}
    assert answer["session_id"] == served_emulator.session_ids[0]

    got = runner.invoke(main, ["session", "get", answer["session_id"], "--json"])
    assert got.exit_code == 0, got.output
    assert json.loads(got.output)["session_id"] == answer["session_id"]

    served_emulator.register_agent(EXAMPLE, agent_key="support")
    made = runner.invoke(main, ["session", "from-agent", "support", "--json"])
    assert made.exit_code == 0, made.output
    from_agent = json.loads(made.output)
    assert from_agent["agent_id"] == served_emulator.agents[0].id
    assert from_agent["session_id"] == served_emulator.session_ids[1]

"""``amas agents``, ``amas files``, ``amas collections`` and ``amas kb`` against the emulator
served from a thread (``AMAS_BASE_URL`` / ``AMAS_API_KEY`` point at it), in-process with click's
runner: human output, ``--json`` output parsed, exit codes, and what reached the emulator.
Processing is driven by the emulator's controls and polling by ``instant_retries``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from amas_async.cli import main
from amas_async.testing import Emulator, RecordedRequest, instant_retries

SUPPORT_YAML = """\
name: Support Agent
description: 2025-01-15
agent_type: llm_agent
system_prompt: Help kindly.
"""
INVALID_YAML = "name: Broken\nagent_type: wizard\n"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def emu(served_emulator: Emulator) -> Emulator:
    """The served emulator, processing instantly unless a test holds it."""
    served_emulator.set_processing_seconds(0)
    return served_emulator


def run(runner: CliRunner, *args: str, code: int = 0) -> Result:
    result = runner.invoke(main, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def run_json(runner: CliRunner, *args: str) -> Any:
    return json.loads(run(runner, *args, "--json").stdout)


def last(emulator: Emulator, method: str, path: str) -> RecordedRequest:
    found = [r for r in emulator.requests if r.method == method and r.path == "/api/v1" + path]
    assert found, f"no {method} {path}"
    return found[-1]


def field(output: str, name: str) -> str:
    match = re.search(rf"^{name}: (.*)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


# ---- agents ---------------------------------------------------------------------------------


def test_agents_commands(runner: CliRunner, emu: Emulator, tmp_path: Path) -> None:
    config = tmp_path / "support.yaml"
    config.write_text(SUPPORT_YAML)
    created = run(runner, "agents", "create", str(config))
    assert field(created.output, "agent_key") == "support_agent"
    assert field(created.output, "name") == "Support Agent"
    agent_id = field(created.output, "id")
    sent = last(emu, "POST", "/agent/")
    assert sent.headers["Content-Type"].startswith("application/yaml")
    assert "description: 2025-01-15" in sent.text

    listed = run(runner, "agents", "list")
    assert listed.output.splitlines()[0].split() == ["ID", "KEY", "NAME", "VERSION"]
    assert listed.output.splitlines()[1].split()[:2] == [agent_id, "support_agent"]
    as_json = run_json(runner, "agents", "list")
    assert [a["id"] for a in as_json] == [agent_id]
    assert as_json[0]["system_config"]["system_prompt"] == "Help kindly."

    got = run(runner, "agents", "get", agent_id)
    assert field(got.output, "agent_key") == "support_agent"
    assert "system_config:" in got.output
    assert '"system_prompt": "Help kindly."' in got.output
    assert run_json(runner, "agents", "get", agent_id)["id"] == agent_id

    session = run(runner, "session", "from-agent", "support_agent")
    assert field(session.output, "agent_id") == agent_id
    assert last(emu, "GET", "/sessions/from-agent/").query == {"agent_key": "support_agent"}
    by_id = run(runner, "session", "from-agent", "--id", agent_id)
    assert field(by_id.output, "agent_id") == agent_id
    neither = run(runner, "session", "from-agent", code=2)
    assert "AGENT_KEY or --id" in neither.output

    deleted = run(runner, "agents", "delete", agent_id)
    assert deleted.output.strip() == f"deleted agent {agent_id}"
    assert last(emu, "DELETE", f"/agent/{agent_id}/")
    missing = run(runner, "agents", "get", agent_id, code=1)
    assert missing.output.startswith("error: 404")
    assert len(missing.output.strip().splitlines()) == 1
    assert run(runner, "agents", "list").output.strip() == "no saved agents"
    assert run_json(runner, "agents", "list") == []


def test_agents_create_json_and_errors(runner: CliRunner, emu: Emulator, tmp_path: Path) -> None:
    config = tmp_path / "support.yaml"
    config.write_text(SUPPORT_YAML)
    created = run_json(runner, "agents", "create", str(config))
    assert created["agent_key"] == "support_agent"
    agent_id = created["id"]
    assert [a.id for a in emu.agents] == [agent_id]
    assert run_json(runner, "agents", "get", agent_id) == created  # the body as the API sent it
    assert run_json(runner, "agents", "delete", agent_id) == {"id": agent_id, "deleted": True}

    emu.requests = []
    missing = run(runner, "agents", "create", str(tmp_path / "nope.yaml"), code=1)
    assert "not found" in missing.output
    nameless = tmp_path / "nameless.yaml"
    nameless.write_text("agent_type: llm_agent\n")
    refused = run(runner, "agents", "create", str(nameless), code=1)
    assert refused.output.startswith("error: ")
    assert "name" in refused.output
    assert not [r for r in emu.requests if r.method == "POST"]  # refused before sending


def test_agents_validate_exit_status(runner: CliRunner, emu: Emulator, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(SUPPORT_YAML)
    bad = tmp_path / "bad.yaml"
    bad.write_text(INVALID_YAML)

    valid = run(runner, "agents", "validate", str(good))
    assert valid.output.startswith("valid")
    assert run_json(runner, "agents", "validate", str(good))["valid"] is True

    invalid = run(runner, "agents", "validate", str(bad), code=1)
    lines = invalid.output.strip().splitlines()
    assert lines[0].startswith("invalid")
    assert lines[1].strip().startswith("agent_type: ")
    assert "wizard" in lines[1]
    assert "Traceback" not in invalid.output

    as_json = runner.invoke(main, ["agents", "validate", str(bad), "--json"])
    assert as_json.exit_code == 1
    answer = json.loads(as_json.stdout)
    assert answer["valid"] is False
    assert answer["errors"][0]["field"] == "agent_type"


def test_agents_validate_when_the_server_answers_400(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(INVALID_YAML)
    with Emulator(validate_invalid_status=400).run_in_thread() as emulator:
        monkeypatch.setenv("AMAS_BASE_URL", emulator.base_url)
        monkeypatch.setenv("AMAS_API_KEY", emulator.api_key)
        invalid = run(runner, "agents", "validate", str(bad), code=1)
    assert invalid.output.startswith("invalid")
    assert "agent_type: " in invalid.output


# ---- files ----------------------------------------------------------------------------------


def test_files_upload_list_get_delete(runner: CliRunner, emu: Emulator, tmp_path: Path) -> None:
    manual = tmp_path / "manual.txt"
    manual.write_text("Reset the device by holding the button.\n")
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n")
    emu.hold_processing()

    uploaded = run_json(
        runner, "files", "upload", str(manual), str(notes), "--tag", "manual", "--tag", "v2"
    )
    assert [f["original_filename"] for f in uploaded] == ["manual.txt", "notes.md"]
    assert [f["status"] for f in uploaded] == ["uploading", "uploading"]
    assert all(f["tags"] == ["manual", "v2"] for f in uploaded)
    stored = emu.files[uploaded[0]["id"]]
    assert stored.data == manual.read_bytes()
    assert stored.tags == ("manual", "v2")
    emu.resume_processing()

    plain = run(runner, "files", "upload", str(manual))
    header, row = plain.output.splitlines()
    assert header.split() == ["ID", "STATUS", "TYPE", "SIZE", "NAME", "TAGS"]
    assert row.split()[1] == "uploading"
    untagged_id = row.split()[0]
    assert emu.files[untagged_id].tags == ()

    listed = run_json(
        runner,
        "files",
        "list",
        "--tag",
        "manual",
        "--tag",
        "v2",
        "--type",
        "document",
        "--status",
        "active",
        "--search",
        "manual",
    )
    request = last(emu, "GET", "/files/")
    assert request.query_values("tags") == ["manual", "v2"]
    assert request.query == {
        "file_type": "document",
        "status": "active",
        "search": "manual",
        "tags": "manual",
    }
    assert [f["id"] for f in listed] == [uploaded[0]["id"]]
    table = run(runner, "files", "list", "--tag", "v2").output
    assert "manual.txt" in table
    assert "notes.md" in table
    assert untagged_id not in table

    file_id = uploaded[0]["id"]
    got = run(runner, "files", "get", file_id)
    assert field(got.output, "status") == "active"
    assert field(got.output, "tags") == "manual, v2"
    assert "processing_info." in got.output
    assert run_json(runner, "files", "get", file_id)["id"] == file_id

    assert run(runner, "files", "delete", file_id).output.strip() == f"deleted file {file_id}"
    assert last(emu, "DELETE", f"/files/{file_id}/")
    remaining = [f["id"] for f in run_json(runner, "files", "list")]
    assert file_id not in remaining
    with_deleted = run_json(runner, "files", "list", "--include-deleted")
    assert last(emu, "GET", "/files/").query == {"include_deleted": "true"}
    assert file_id in [f["id"] for f in with_deleted]

    bad_type = run(runner, "files", "list", "--type", "spreadsheet", code=2)
    assert "spreadsheet" in bad_type.output
    missing = run(runner, "files", "upload", str(tmp_path / "nope.pdf"), code=1)
    assert missing.output.startswith("error: file not found")


def test_files_upload_wait(runner: CliRunner, emu: Emulator, tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("text")
    waited = run_json(runner, "files", "upload", str(doc), "--wait")
    assert [f["status"] for f in waited] == ["active"]
    assert last(emu, "GET", f"/files/{waited[0]['id']}/")

    emu.respond_next(
        body={"id": "f-1", "status": "error", "original_filename": "doc.txt"},
        path="/files/",
        method="GET",
    )
    failed = run(runner, "files", "upload", str(doc), "--wait", code=1)
    assert failed.output.strip().splitlines()[-1].startswith("error: file ")
    assert "'error'" in failed.output

    emu.hold_processing()
    with instant_retries():
        late = run(
            runner, "files", "upload", str(doc), "--wait", "--timeout", "2", "--json", code=1
        )
    assert late.stdout == ""
    assert "still 'uploading' after 2.0 s" in late.output
    assert "amas files get" in late.output


# ---- collections ----------------------------------------------------------------------------


def test_collections_commands(runner: CliRunner, emu: Emulator, tmp_path: Path) -> None:
    one = emu_file(runner, tmp_path, "one.txt")
    two = emu_file(runner, tmp_path, "two.txt")

    created = run_json(runner, "collections", "create", "Manuals", "--description", "Docs")
    assert last(emu, "POST", "/collections/").json() == {"name": "Manuals", "description": "Docs"}
    assert created["name"] == "Manuals"
    collection_id = created["id"]
    plain = run(runner, "collections", "create", "Other")
    assert field(plain.output, "name") == "Other"
    assert field(plain.output, "status") == "pending"

    added = run(runner, "collections", "add-files", collection_id, one, two)
    assert last(emu, "POST", f"/collections/{collection_id}/files/").json() == {
        "file_ids": [one, two]
    }
    lines = added.output.splitlines()
    assert lines[0] == "added: 2, failed: 0"
    assert [line.split() for line in lines[1:]] == [[one, "added"], [two, "added"]]

    partial = run(runner, "collections", "add-files", collection_id, "no-such-file", code=1)
    assert partial.output.splitlines()[0] == "added: 0, failed: 1"
    assert "no-such-file" in partial.output
    as_json = runner.invoke(main, ["collections", "add-files", collection_id, "nope", "--json"])
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["failed"] == 1

    got = run(runner, "collections", "get", collection_id)
    assert field(got.output, "data_source_count") == "2"
    assert field(got.output, "datasources") == "2"
    assert "one.txt" in got.output
    assert "two.txt" in got.output
    got_json = run_json(runner, "collections", "get", collection_id)
    assert [d["data_source"] for d in got_json["datasources"]] == [one, two]

    listed = run(runner, "collections", "list", "--search", "Manu")
    assert last(emu, "GET", "/collections/").query == {"search": "Manu"}
    assert listed.output.splitlines()[0].split() == ["ID", "STATUS", "FILES", "NAME"]
    assert listed.output.splitlines()[1].split()[0] == collection_id
    assert len(run_json(runner, "collections", "list")) == 2
    run(runner, "collections", "add-files", collection_id, code=2)  # FILE_ID... is required


def emu_file(runner: CliRunner, tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_text(f"contents of {name}\n")
    (uploaded,) = run_json(runner, "files", "upload", str(path))
    return str(uploaded["id"])


# ---- knowledge bases ------------------------------------------------------------------------


def status_body(progress: int, processed: int) -> dict[str, Any]:
    """A documented check_status answer for a knowledge base still running."""
    return {
        "success": True,
        "message": "Status checked",
        "knowledge_base": {
            "id": "kb",
            "status": "running",
            "progress": progress,
            "processing_metadata": {
                "phase": "batch_embedding",
                "total_chunks": 10,
                "processed_chunks": processed,
            },
        },
        "status_updated": True,
    }


def test_kb_create_without_waiting(runner: CliRunner, emu: Emulator, tmp_path: Path) -> None:
    file_id = emu_file(runner, tmp_path, "kb.txt")
    collection = run_json(runner, "collections", "create", "Docs")["id"]
    emu.hold_processing()
    created = run_json(
        runner,
        "kb",
        "create",
        "Product KB",
        "--collection",
        collection,
        "--datasource",
        file_id,
        "--description",
        "All of it",
        "--chunking",
        "fixed",
        "--chunk-size",
        "300",
        "--chunk-overlap",
        "30",
    )
    assert last(emu, "POST", "/knowledge-bases/").json() == {
        "name": "Product KB",
        "description": "All of it",
        "processing_engine": "milvus",
        "selected_collections": [collection],
        "selected_datasources": [file_id],
        "chunking_strategy": {
            "strategy": "fixed",
            "chunk_size": 300,
            "chunk_overlap": 30,
            "split_by": "word",
        },
    }
    assert created["status"] == "pending"
    kb_id = created["id"]

    emu.advance_processing(kb_id, 40)
    status = run(runner, "kb", "status", kb_id)
    assert last(emu, "GET", f"/knowledge-bases/{kb_id}/check_status/")
    assert field(status.output, "status") == "running"
    assert field(status.output, "progress") == "40.0"
    assert field(status.output, "phase")
    status_json = run_json(runner, "kb", "status", kb_id)
    assert status_json["knowledge_base"]["status"] == "running"

    got = run(runner, "kb", "get", kb_id)
    assert field(got.output, "name") == "Product KB"
    assert field(got.output, "chunking") == "fixed"
    assert run_json(runner, "kb", "get", kb_id)["id"] == kb_id

    recursive = run_json(runner, "kb", "create", "R", "--datasource", file_id, "--chunk-size", "80")
    assert recursive["chunking_strategy"]["strategy"] == "recursive"
    sent = last(emu, "POST", "/knowledge-bases/").json()["chunking_strategy"]
    assert (sent["strategy"], sent["chunk_size"], sent["chunk_overlap"]) == ("recursive", 80, 50)
    run_json(runner, "kb", "create", "H", "--datasource", file_id, "--chunking", "hierarchical")
    sent = last(emu, "POST", "/knowledge-bases/").json()["chunking_strategy"]
    assert sent["strategy"] == "hierarchical"


def test_kb_create_usage_errors(runner: CliRunner, emu: Emulator) -> None:
    none = run(runner, "kb", "create", "Empty", code=2)
    assert "at least one --collection or --datasource" in none.output
    hierarchical = run(
        runner,
        "kb",
        "create",
        "H",
        "--datasource",
        "f",
        "--chunking",
        "hierarchical",
        "--chunk-size",
        "100",
        code=2,
    )
    assert "--chunk-size" in hierarchical.output
    overlap = run(
        runner, "kb", "create", "O", "--datasource", "f", "--chunk-overlap", "600", code=2
    )
    assert "chunk_overlap (600) must be smaller than chunk_size (500)" in overlap.output
    bad = run(runner, "kb", "create", "B", "--datasource", "f", "--chunking", "semantic", code=2)
    assert "semantic" in bad.output
    assert emu.requests == []  # nothing was sent


def test_kb_create_wait_shows_progress_until_completed(
    runner: CliRunner, emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_id = emu_file(runner, tmp_path, "kb.txt")
    emu.respond_next(body=status_body(40, 4), path="/check_status/", method="GET")
    emu.respond_next(body=status_body(80, 8), path="/check_status/", method="GET")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # a terminal: rich draws every update
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    with instant_retries() as clock:
        waited = run(runner, "kb", "create", "Product KB", "--datasource", file_id, "--wait")
    assert clock.sleeps == [2.0, 2.0]  # --poll-interval's default, on the SDK's clock
    progress = click.unstyle(waited.stderr)
    assert re.search(r"batch_embedding .* 40% 4/10 chunks", progress), progress
    assert re.search(r"batch_embedding .* 80% 8/10 chunks", progress), progress
    assert re.search(r"completed .* 100% \d+/\d+ chunks", progress), progress
    final = click.unstyle(waited.stdout)
    assert field(final, "name") == "Product KB"
    assert field(final, "status") == "completed"
    assert field(final, "progress") == "100.0"
    checks = [r for r in emu.requests if r.path.endswith("/check_status/")]
    assert len(checks) == 3

    monkeypatch.delenv("TTY_COMPATIBLE")
    monkeypatch.delenv("TTY_INTERACTIVE")
    with instant_retries():
        as_json = run_json(runner, "kb", "create", "Again", "--datasource", file_id, "--wait")
    assert as_json["status"] == "completed"  # the final state, as the server sent it
    assert as_json["name"] == "Again"


def test_kb_create_wait_failures_are_one_line(
    runner: CliRunner, emu: Emulator, tmp_path: Path
) -> None:
    file_id = emu_file(runner, tmp_path, "kb.txt")
    failed_body = status_body(60, 6)
    failed_body["knowledge_base"]["status"] = "failed"
    failed_body["knowledge_base"]["processing_metadata"]["message"] = "embedding service down"
    emu.respond_next(body=failed_body, path="/check_status/", method="GET")
    failed = run(runner, "kb", "create", "Broken", "--datasource", file_id, "--wait", code=1)
    errors = [line for line in failed.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert re.fullmatch(
        r"error: knowledge base \S+ ended with status 'failed': embedding service down",
        errors[0],
    )

    emu.hold_processing()
    with instant_retries():
        late = run(
            runner,
            "kb",
            "create",
            "Slow",
            "--datasource",
            file_id,
            "--wait",
            "--timeout",
            "6",
            "--poll-interval",
            "3",
            code=1,
        )
    errors = [line for line in late.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "is still 'pending' after 6.0 s" in errors[0]
    assert "amas kb status" in errors[0]
    kb_id = [r for r in emu.requests if r.method == "POST"][-1]
    assert kb_id.json()["name"] == "Slow"
    assert late.stdout == ""


# ---- help ------------------------------------------------------------------------------------


def commands_of(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += commands_of(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_every_help_text_is_complete(runner: CliRunner) -> None:
    assert {"agents", "files", "collections", "kb"} <= set(main.commands)
    paths = commands_of(main)
    for path in [
        ("agents", "list"),
        ("agents", "get"),
        ("agents", "create"),
        ("agents", "validate"),
        ("agents", "delete"),
        ("files", "upload"),
        ("files", "list"),
        ("collections", "create"),
        ("collections", "add-files"),
        ("collections", "list"),
        ("collections", "get"),
        ("kb", "create"),
        ("kb", "get"),
        ("kb", "status"),
        ("session", "from-agent"),
    ]:
        assert path in paths
    for command in paths:
        shown = run(runner, *command, "--help").output
        described = [line for line in shown.splitlines() if not line.startswith("Usage:")]
        assert not [line for line in described if "..." in line], command  # nothing cut short
        if len(command) == 2 and command[0] in ("agents", "files", "collections", "kb"):
            assert "--json" in shown, command


def test_the_emulator_flag_works_for_the_new_commands(runner: CliRunner) -> None:
    assert run(runner, "agents", "list", "--emulator").output.strip() == "no saved agents"
    assert run_json(runner, "collections", "list", "--emulator") == []

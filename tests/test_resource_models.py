"""The models of agents, files, collections and knowledge bases, and how their answers are read.

Every documented answer parses without loss; both knowledge-base status shapes mean the same;
a malformed answer raises ResponseValidationError naming what does not fit; the chunking and
embedding settings send exactly the documented bodies and refuse what cannot be valid.
"""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
import pytest

from amas_async import models
from amas_async.errors import InvalidRequestError, ResponseValidationError
from amas_async.models import (
    AddFilesResult,
    Agent,
    ChunkingStrategy,
    Collection,
    CollectionDatasource,
    ConfigValidation,
    EmbeddingConfig,
    FieldError,
    File,
    KnowledgeBase,
    KnowledgeBaseStatus,
)
from amas_async.resources._answers import (
    parse_add_files,
    parse_agent,
    parse_collection,
    parse_file,
    parse_kb_status,
    parse_knowledge_base,
    parse_validation,
)

EXAMPLES = Path(__file__).resolve().parent / "data" / "examples"
UTC = timezone.utc
JAN_15 = datetime(2025, 1, 15, 10, 30, tzinfo=UTC)


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())


#: Every documented single-object answer and the parser that reads it.
SINGLE: list[tuple[str, Callable[[Any], Any]]] = [
    ("agents-create.response.json", parse_agent),
    ("agents-get.response.json", parse_agent),
    ("files-upload.response.json", parse_file),
    ("files-get.response.json", parse_file),
    ("collections-create.response.json", parse_collection),
    ("collections-get.response.json", parse_collection),
    ("collections-add-files.response.json", parse_add_files),
    ("knowledge-bases-get.response.json", parse_knowledge_base),
    ("knowledge-bases-get-legacy.response.json", parse_knowledge_base),
]
#: The documented list answers (bare arrays) and the parser of one item.
LISTS: list[tuple[str, Callable[[Any], Any]]] = [
    ("agents-list.response.json", parse_agent),
    ("files-list.response.json", parse_file),
    ("collections-list.response.json", parse_collection),
]
STATUS_CURRENT = "knowledge-bases-check-status.response.json"
STATUS_LEGACY = "knowledge-bases-status-legacy.response.json"
#: Every parser, with a minimal answer it accepts.
PARSERS: list[tuple[Callable[[Any], Any], dict[str, Any]]] = [
    (parse_agent, {"id": "a"}),
    (parse_file, {"id": "f"}),
    (parse_collection, {"id": "c"}),
    (parse_add_files, {}),
    (parse_knowledge_base, {"id": "kb"}),
    (parse_kb_status, {"status": "running"}),
    (parse_validation, {"valid": True}),
]


def same(value: Any, sent: Any) -> bool:
    """True when a model's field holds what the answer sent under its key."""
    if isinstance(value, datetime):
        return isinstance(sent, str) and value == datetime.fromisoformat(
            sent.replace("Z", "+00:00")
        )
    if isinstance(value, tuple):
        return isinstance(sent, list) and all(same(v, s) for v, s in zip(value, sent, strict=True))
    if attrs.has(type(value)):
        return bool(value.raw == sent)
    return type(value) in (type(sent), float) and bool(value == sent)


def assert_lossless(parsed: Any, body: Mapping[str, Any]) -> None:
    """Each key of the answer is a field holding the same value; ``raw`` is the answer."""
    assert parsed.raw is body
    names = {f.name for f in attrs.fields(type(parsed))}
    for key, sent in body.items():
        assert key in names, key
        assert same(getattr(parsed, key), sent), (key, getattr(parsed, key), sent)


# ---- every documented answer parses without loss ------------------------------------------------


@pytest.mark.parametrize(("name", "parse"), SINGLE)
def test_every_documented_answer_parses_without_loss(
    name: str, parse: Callable[[Any], Any]
) -> None:
    body = example(name)
    parsed = parse(body)
    assert_lossless(parsed, body)
    assert body == example(name)  # the answer is not changed by reading it


@pytest.mark.parametrize(("name", "parse"), LISTS)
def test_every_item_of_the_documented_lists_parses_without_loss(
    name: str, parse: Callable[[Any], Any]
) -> None:
    items = example(name)
    assert isinstance(items, list)
    assert items
    for item in items:
        assert_lossless(parse(item), item)


def test_the_documented_agent_answer_fields() -> None:
    agent = parse_agent(example("agents-create.response.json"))
    assert isinstance(agent, Agent)
    assert agent.id == "550e8400-e29b-41d4-a716-446655440001"
    assert agent.agent_key == "support_agent"
    assert agent.is_public is False
    assert agent.origin_url is None
    assert agent.created_at == JAN_15
    # knowledge-base references inside the config are kept exactly as sent
    assert agent.system_config["knowledge_bases"] == [
        {"name": "support_docs", "knowledge_base_type": "milvus", "knowledge_base_id": "kb_123"}
    ]


def test_the_documented_file_and_collection_answer_fields() -> None:
    upload = parse_file(example("files-upload.response.json"))
    assert upload.status == "uploading"
    assert upload.tags == ("manual", "product")
    assert upload.updated_at is None
    assert upload.processing_info is None
    got = parse_file(example("files-get.response.json"))
    assert got.processing_info == {"pages_extracted": 45, "text_length": 12500}
    created = parse_collection(example("collections-create.response.json"))
    assert created.datasources is None  # not listed in this answer
    assert created.progress == 0
    col = parse_collection(example("collections-get.response.json"))
    assert col.datasources is not None
    (source,) = col.datasources
    assert isinstance(source, CollectionDatasource)
    assert source.data_source == "file_123"
    assert source.data_source_size == 3495253
    assert source.created_at == JAN_15
    assert source.raw == example("collections-get.response.json")["datasources"][0]
    added = parse_add_files(example("collections-add-files.response.json"))
    assert added == AddFilesResult(
        success=True,
        added=3,
        failed=0,
        results=tuple(example("collections-add-files.response.json")["results"]),
    )


def test_both_documented_knowledge_base_shapes() -> None:
    current = parse_knowledge_base(example("knowledge-bases-get.response.json"))
    legacy = parse_knowledge_base(example("knowledge-bases-get-legacy.response.json"))
    for kb in (current, legacy):
        assert isinstance(kb, KnowledgeBase)
        assert (kb.id, kb.status, kb.progress, kb.success_rate) == ("kb_123", "completed", 100, 100)
        assert kb.failed_datasources == ()
    assert current.chunking_strategy == ChunkingStrategy.recursive().to_dict()
    assert current.embedding_config == {
        "provider": "mistral",
        "model": "mistral-embed",
        "dimensions": 1024,
    }
    assert current.collection_count is None
    # what the older shape does not carry is None ("not said"), not empty
    assert legacy.collection_count == 2
    assert legacy.chunking_strategy is None
    assert legacy.datasources is None
    assert legacy.ingested_datasources is not None
    assert legacy.ingested_datasources[0]["data_source"] == "file_123"


def test_the_documented_validation_answers() -> None:
    body = example("agent-validate-valid.response.json")
    valid = parse_validation(body)
    assert valid == ConfigValidation(valid=True, message="Configuration is valid")
    assert valid.raw is body
    assert valid.summary == "Configuration is valid"
    body = example("agent-validate-invalid.response.json")
    invalid = parse_validation(body)
    assert invalid.valid is False
    assert invalid.message is None
    assert invalid.errors == (FieldError("llm_config.model", "Invalid model specified"),)
    assert invalid.raw is body
    assert invalid.summary == "llm_config.model: Invalid model specified"
    assert str(invalid.errors[0]) == "llm_config.model: Invalid model specified"


# ---- knowledge-base status: two shapes, one meaning ---------------------------------------------


def test_the_documented_status_answers() -> None:
    body = example(STATUS_CURRENT)
    current = parse_kb_status(body)
    assert current.raw is body
    assert (current.id, current.name, current.status, current.progress) == (
        "kb_123",
        "Product Knowledge Base",
        "running",
        45,
    )
    assert (current.phase, current.total_chunks, current.processed_chunks) == (
        "batch_embedding",
        1250,
        562,
    )
    assert current.message == "Generating Embeddings: 562/1,250 chunks"
    assert current.failed_count == 0
    assert current.failed_datasources == ()
    assert current.success is True
    assert current.status_updated is True
    assert current.updated_at == JAN_15 + timedelta(minutes=5)
    assert current.knowledge_base is not None
    assert_lossless(current.knowledge_base, body["knowledge_base"])
    assert not current.done
    assert not current.failed
    assert not current.finished

    body = example(STATUS_LEGACY)
    legacy = parse_kb_status(body)
    assert legacy.raw is body
    assert (legacy.id, legacy.status, legacy.progress, legacy.processing_engine) == (
        "kb_123",
        "completed",
        100,
        "milvus",
    )
    assert (legacy.collection_count, legacy.total_datasources, legacy.processed_datasources) == (
        2,
        15,
        15,
    )
    assert legacy.failed_count == 0
    assert legacy.failed_datasources == ()
    assert legacy.success_rate == 100
    assert legacy.estimated_completion is None
    assert legacy.updated_at == JAN_15 + timedelta(minutes=5)  # from last_updated
    assert legacy.knowledge_base is None
    assert legacy.success is None
    assert legacy.done
    assert not legacy.failed
    assert legacy.finished


def _current(**kb: Any) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(example(STATUS_CURRENT))
    body["knowledge_base"].update(kb)
    return body


def _legacy(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = example(STATUS_LEGACY)
    body.update(fields)
    return body


@pytest.mark.parametrize(
    ("status", "progress", "failed_list", "done", "failed"),
    [
        ("pending", 0, [], False, False),
        ("running", 45, [], False, False),
        ("running", 60.5, [{"id": "ds_1"}], False, False),
        ("completed", 100, [], True, False),
        ("completed", 100, [{"id": "ds_1"}, {"id": "ds_2"}], True, False),
        ("failed", 30, [{"id": "ds_1", "error": "unreadable"}], False, True),
    ],
)
def test_both_status_shapes_mean_the_same(
    status: str, progress: float, failed_list: list[Any], done: bool, failed: bool
) -> None:
    current = parse_kb_status(
        _current(status=status, progress=progress, failed_datasources=failed_list)
    )
    legacy = parse_kb_status(
        _legacy(status=status, progress=progress, failed_datasources=len(failed_list))
    )
    for read in (current, legacy):
        assert read.status == status
        assert read.progress == progress
        assert read.failed_count == len(failed_list)
        assert (read.done, read.failed, read.finished) == (done, failed, done or failed)
    assert current.failed_datasources == tuple(failed_list)
    assert legacy.failed_datasources == ()  # only a count was sent


def test_status_edge_shapes() -> None:
    # a count sent as a float, or no failed_datasources at all
    assert parse_kb_status(_legacy(failed_datasources=2.0)).failed_count == 2
    body = _legacy()
    del body["failed_datasources"]
    assert parse_kb_status(body).failed_count is None
    # a key the nested knowledge base lacks is read from the top level
    body = _current()
    del body["knowledge_base"]["status"]
    body["status"] = "completed"
    assert parse_kb_status(body).status == "completed"
    # a nested knowledge base without an id: the status still reads
    body = _current()
    del body["knowledge_base"]["id"]
    read = parse_kb_status(body)
    assert read.knowledge_base is None
    assert read.id is None
    assert read.progress == 45
    # updated_at is preferred to last_updated
    read = parse_kb_status(_legacy(updated_at="2025-01-15T10:30:00Z"))
    assert read.updated_at == JAN_15


# ---- malformed answers --------------------------------------------------------------------------

HTML = "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"


@pytest.mark.parametrize("body", [[], [{"id": "a"}], "text", HTML, None, 5, True])
@pytest.mark.parametrize(("parse", "_minimal"), PARSERS)
def test_an_answer_that_is_not_an_object(
    parse: Callable[[Any], Any], _minimal: dict[str, Any], body: Any
) -> None:
    with pytest.raises(ResponseValidationError) as caught:
        parse(body)
    assert f"expected a JSON object, got {type(body).__name__}" in str(caught.value)
    assert caught.value.body is body


@pytest.mark.parametrize("parse", [parse_agent, parse_file, parse_collection, parse_knowledge_base])
@pytest.mark.parametrize("ident", [None, "", True, 1.5, ["a"], {"id": "a"}, "missing"])
def test_an_object_without_an_id(parse: Callable[[Any], Any], ident: Any) -> None:
    body = {"name": "x"} if ident == "missing" else {"id": ident, "name": "x"}
    with pytest.raises(ResponseValidationError, match="no 'id' string"):
        parse(body)


def test_a_status_without_a_status() -> None:
    with pytest.raises(ResponseValidationError, match="no 'status' string"):
        parse_kb_status({"id": "kb", "progress": 10})
    with pytest.raises(ResponseValidationError, match="no 'status' string"):
        parse_kb_status({"knowledge_base": {"id": "kb", "status": 3}})
    with pytest.raises(ResponseValidationError, match=r"success: false.*not allowed"):
        parse_kb_status({"success": False, "message": "not allowed"})


@pytest.mark.parametrize(
    ("parse", "body", "named"),
    [
        (parse_agent, {"id": "a", "system_config": ["name"]}, "$.system_config"),
        (parse_agent, {"id": "a", "system_config": "name: x"}, "$.system_config"),
        (parse_agent, {"id": "a", "is_public": "maybe"}, "$.is_public"),
        (parse_agent, {"id": "a", "created_at": "yesterday"}, "$.created_at"),
        (parse_agent, {"id": "a", "updated_at": {"at": 1}}, "$.updated_at"),
        (parse_file, {"id": "f", "size_bytes": "big"}, "$.size_bytes"),
        (parse_file, {"id": "f", "size_bytes": 1.5}, "$.size_bytes"),
        (parse_file, {"id": "f", "tags": "manual,product"}, "$.tags"),
        (parse_file, {"id": "f", "processing_info": [1]}, "$.processing_info"),
        (parse_collection, {"id": "c", "progress": "half"}, "$.progress"),
        (parse_collection, {"id": "c", "datasources": "cds_1"}, "$.datasources"),
        (parse_collection, {"id": "c", "datasources": ["cds_1"]}, "$.datasources[0]"),
        (
            parse_collection,
            {"id": "c", "datasources": [{"id": "x"}, {"created_at": "never"}]},
            "$.datasources[1].created_at",
        ),
        (parse_add_files, {"added": [1, 2]}, "$.added"),
        (parse_add_files, {"results": {"file_123": "added"}}, "$.results"),
        (
            parse_knowledge_base,
            {"id": "kb", "chunking_strategy": "recursive"},
            "$.chunking_strategy",
        ),
        (parse_knowledge_base, {"id": "kb", "failed_datasources": 3}, "$.failed_datasources"),
        (parse_knowledge_base, {"id": "kb", "success_rate": "high"}, "$.success_rate"),
        (parse_kb_status, _legacy(progress="half"), "$.progress"),
        (parse_kb_status, _legacy(last_updated="soon"), "$.updated_at"),
        (parse_kb_status, _legacy(failed_datasources="none"), "'failed_datasources'"),
        (parse_kb_status, _legacy(failed_datasources=1.5), "'failed_datasources'"),
        (parse_kb_status, {"status": "running", "knowledge_base": []}, "'knowledge_base'"),
        (parse_kb_status, _current(progress="half"), "$.knowledge_base.progress"),
        (parse_kb_status, _current(processing_metadata=[1]), "'processing_metadata'"),
        (parse_kb_status, _current(processing_metadata={"total_chunks": "many"}), "total_chunks"),
        (parse_validation, {"valid": "perhaps"}, "$.valid"),
        (parse_validation, {"valid": False, "errors": "bad model"}, "$.errors"),
        (parse_validation, {"valid": False, "errors": [5]}, "$.errors[0]"),
    ],
)
def test_a_field_that_does_not_fit_is_named(
    parse: Callable[[Any], Any], body: dict[str, Any], named: str
) -> None:
    with pytest.raises(ResponseValidationError) as caught:
        parse(body)
    assert named in caught.value.message
    assert caught.value.body is body


ODD_VALUES: list[Any] = [
    None,
    "",
    "x",
    "2025-13-45",
    "1704067200",
    0,
    -1,
    1.5,
    float("nan"),
    10**30,
    True,
    [],
    [1, "a", None],
    [{"id": 1}],
    {},
    {"a": [1]},
]


@pytest.mark.parametrize(("name", "parse"), [*SINGLE, (STATUS_CURRENT, parse_kb_status)])
def test_odd_values_in_any_field_read_or_raise_a_response_validation_error(
    name: str, parse: Callable[[Any], Any]
) -> None:
    """Never a KeyError, TypeError or anything else: any value of any documented key (the
    nested ones too) is read leniently or named in a ResponseValidationError."""
    original = example(name)
    paths: list[tuple[str, ...]] = [(key,) for key in original]
    for key, value in original.items():
        if isinstance(value, dict):
            paths += [(key, inner) for inner in value]
    for path in paths:
        for odd in ODD_VALUES:
            body = copy.deepcopy(original)
            target = body
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = odd
            try:
                parsed = parse(body)
            except ResponseValidationError:
                continue
            assert parsed.raw is body


@pytest.mark.parametrize(("parse", "minimal"), PARSERS)
def test_a_mapping_that_is_not_a_dict(parse: Callable[[Any], Any], minimal: dict[str, Any]) -> None:
    body = MappingProxyType(minimal)
    assert parse(body).raw is body


# ---- leniency -----------------------------------------------------------------------------------


def test_missing_keys_and_nulls_read_as_not_said() -> None:
    agent = parse_agent({"id": "a"})
    assert agent == Agent(id="a")
    assert agent.system_config == {}
    assert agent.name is None
    body: dict[str, Any] = {"id": "a", "system_config": None, "name": None}
    agent = parse_agent(body)
    assert agent.system_config == {}
    assert agent.raw is body
    body = {"id": "f", "tags": None, "created_at": None}
    f = parse_file(body)
    assert f.tags == ()
    assert f.created_at is None
    assert f.raw is body
    body = {"success": True, "results": None}
    added = parse_add_files(body)
    assert added.results == ()
    assert added.raw is body
    assert parse_collection({"id": "c", "datasources": None}).datasources is None
    kb = parse_knowledge_base({"id": "kb", "failed_datasources": None})
    assert kb.failed_datasources is None
    assert kb.status is None


def test_values_of_a_near_type_are_read_leniently() -> None:
    agent = parse_agent({"id": 42, "is_public": "true", "version_number": 2})
    assert (agent.id, agent.is_public, agent.version_number) == ("42", True, "2")
    f = parse_file({"id": "f", "size_bytes": "2048", "tags": ["a", "b"]})
    assert (f.size_bytes, f.tags) == (2048, ("a", "b"))
    col = parse_collection({"id": "c", "progress": 37.5, "total_size": 10.0})
    assert (col.progress, col.total_size) == (37.5, 10)


def test_unknown_keys_are_kept_in_raw() -> None:
    body = {**example("files-get.response.json"), "checksum": "abc", "owner": {"id": 1}}
    f = parse_file(body)
    assert f.raw["checksum"] == "abc"
    assert f.raw["owner"] == {"id": 1}
    assert f == parse_file(example("files-get.response.json"))  # raw is not compared


SECONDS = 1736937000  # 2025-01-15T10:30:00Z


@pytest.mark.parametrize(
    "sent",
    [
        "2025-01-15T10:30:00Z",
        "2025-01-15T10:30:00+00:00",
        "2025-01-15T11:30:00+01:00",
        "2025-01-15T10:30:00",  # no zone: UTC
        "2025-01-15T10:30:00.000000Z",
        SECONDS,
        float(SECONDS),
        str(SECONDS),
    ],
)
def test_timestamps_in_iso_8601_or_unix_seconds(sent: Any) -> None:
    def aware(value: datetime | None) -> datetime:
        assert value is not None
        assert value.tzinfo is not None
        assert value == JAN_15
        return value

    aware(parse_agent({"id": "a", "created_at": sent}).created_at)
    aware(parse_agent({"id": "a", "updated_at": sent}).updated_at)
    aware(parse_file({"id": "f", "created_at": sent}).created_at)
    col = parse_collection({"id": "c", "updated_at": sent, "datasources": [{"created_at": sent}]})
    aware(col.updated_at)
    assert col.datasources is not None
    aware(col.datasources[0].created_at)
    aware(parse_knowledge_base({"id": "kb", "created_at": sent}).created_at)
    aware(parse_kb_status(_legacy(last_updated=sent)).updated_at)
    status = parse_kb_status(_current(updated_at=sent))
    aware(status.updated_at)
    assert status.knowledge_base is not None
    aware(status.knowledge_base.updated_at)


# ---- validation answered with a 4xx -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message", "errors"),
    [
        (
            {"error": {"type": "validation_error", "message": "Invalid model specified"}},
            "Invalid model specified",
            [],
        ),
        ({"error": {"type": "validation_error"}}, "validation_error", []),
        ({"error": "bad config"}, "bad config", []),
        ({"detail": "Invalid configuration."}, "Invalid configuration.", []),
        ({"detail": ["first", "second"]}, None, [(None, "first"), (None, "second")]),
        ({"message": "Invalid configuration"}, "Invalid configuration", []),
        (
            {"errors": [{"field": "name", "message": "required"}, "something else"]},
            None,
            [("name", "required"), (None, "something else")],
        ),
        ({"valid": False, "errors": {"name": ["required"]}}, None, [("name", "required")]),
        (
            {"llm_config": {"model": ["Invalid model specified", "Unknown"]}},
            None,
            [("llm_config.model", "Invalid model specified"), ("llm_config.model", "Unknown")],
        ),
        (
            {"agents": [{}, {"name": ["This field is required."]}], "edges": ["bad edge"]},
            None,
            [("agents[1].name", "This field is required."), ("edges", "bad edge")],
        ),
        (
            {"non_field_errors": ["no entry point"], "llm_config": {"non_field_errors": ["x"]}},
            None,
            [(None, "no entry point"), ("llm_config", "x")],
        ),
    ],
)
def test_an_error_body_reads_as_invalid(
    body: dict[str, Any], message: str | None, errors: list[tuple[str | None, str]]
) -> None:
    read = parse_validation(body)
    assert read.valid is False
    assert read.message == message
    assert [(e.field, e.message) for e in read.errors] == errors
    assert read.raw is body
    assert read.summary != "invalid"


@pytest.mark.parametrize(
    "body", [{}, {"status": 400}, {"code": "invalid", "status_code": 400}, {"valid": None}]
)
def test_an_answer_that_says_nothing_about_validity(body: dict[str, Any]) -> None:
    with pytest.raises(ResponseValidationError, match="no 'valid'"):
        parse_validation(body)


def test_validation_summary() -> None:
    assert ConfigValidation(valid=True).summary == "valid"
    assert ConfigValidation(valid=False).summary == "invalid"
    check = ConfigValidation(
        valid=False, message="Bad config", errors=[FieldError("a", "x"), FieldError(None, "y")]
    )
    assert check.summary == "Bad config; a: x; y"
    assert str(FieldError(message="whole")) == "whole"
    assert str(FieldError("f")) == "f: invalid"


# ---- chunking and embedding settings -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "strategy"),
    [
        ("recursive", ChunkingStrategy.recursive()),
        ("recursive", ChunkingStrategy.recursive(500, 50)),
        ("recursive", ChunkingStrategy.recursive(chunk_size=500, chunk_overlap=50)),
        ("hierarchical", ChunkingStrategy.hierarchical()),
        (
            "hierarchical",
            ChunkingStrategy.hierarchical(50, hierarchical_block_sizes=[700, 350, 150]),
        ),
        ("fixed", ChunkingStrategy.fixed()),
        ("fixed", ChunkingStrategy.fixed(500, 50, split_by="word")),
    ],
)
def test_the_chunking_strategies_send_the_documented_bodies(
    name: str, strategy: ChunkingStrategy
) -> None:
    documented = example(f"knowledge-bases-chunking-{name}.json")["chunking_strategy"]
    sent = strategy.to_dict()
    assert sent == documented
    assert list(sent) == list(documented)  # the documented key order
    assert json.dumps(sent) == json.dumps(documented)


def test_chunking_options_for_structured_files_are_sent_only_when_given() -> None:
    plain = ChunkingStrategy.fixed(300, 0)
    assert plain.to_dict() == {
        "strategy": "fixed",
        "chunk_size": 300,
        "chunk_overlap": 0,
        "split_by": "word",
    }
    tabular = ChunkingStrategy.recursive(
        200,
        20,
        split_by="char",
        recursive_separators=["\n"],
        rows_per_batch=20,
        table_format="markdown",
        csv_content_column="body",
        csv_conversion_mode="row",
    )
    assert tabular.to_dict() == {
        "strategy": "recursive",
        "chunk_size": 200,
        "chunk_overlap": 20,
        "split_by": "char",
        "recursive_separators": ["\n"],
        "rows_per_batch": 20,
        "table_format": "markdown",
        "csv_content_column": "body",
        "csv_conversion_mode": "row",
    }
    assert (
        ChunkingStrategy.hierarchical(rows_per_batch=1, table_format="csv").to_dict()[
            "rows_per_batch"
        ]
        == 1
    )
    # built directly, a field left None is the server's default: not sent
    assert ChunkingStrategy(strategy="recursive").to_dict() == {
        "strategy": "recursive",
        "chunk_overlap": 50,
        "split_by": "word",
    }


def test_chunking_strategies_are_frozen_hashable_values() -> None:
    a = ChunkingStrategy.recursive(recursive_separators=["\n\n", "\n"])
    b = ChunkingStrategy.recursive(recursive_separators=("\n\n", "\n"))
    assert a == b
    assert hash(a) == hash(b)
    assert a.recursive_separators == ("\n\n", "\n")
    assert ChunkingStrategy.recursive() != ChunkingStrategy.fixed()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.chunk_size = 1  # type: ignore[misc]
    sent = a.to_dict()
    sent["recursive_separators"].append(" ")  # the body is a fresh copy
    assert a.to_dict()["recursive_separators"] == ["\n\n", "\n"]


BAD_CHUNKING: list[tuple[Callable[[], Any], str]] = [
    (lambda: ChunkingStrategy.recursive(0), "chunk_size"),
    (lambda: ChunkingStrategy.recursive(-5), "chunk_size"),
    (lambda: ChunkingStrategy.recursive("500"), "chunk_size"),  # type: ignore[arg-type]
    (lambda: ChunkingStrategy.recursive(True), "chunk_size"),
    (lambda: ChunkingStrategy.fixed(12.5), "chunk_size"),  # type: ignore[arg-type]
    (lambda: ChunkingStrategy.fixed(500, -1), "chunk_overlap"),
    (lambda: ChunkingStrategy.fixed(500, 1.0), "chunk_overlap"),  # type: ignore[arg-type]
    (lambda: ChunkingStrategy.fixed(500, None), "chunk_overlap"),  # type: ignore[arg-type]
    (lambda: ChunkingStrategy.recursive(100, 100), "smaller than chunk_size"),
    (lambda: ChunkingStrategy.fixed(100, 150), "smaller than chunk_size"),
    (lambda: ChunkingStrategy.recursive(split_by="sentence"), "split_by"),
    (lambda: ChunkingStrategy.fixed(split_by="char"), "split_by"),
    (lambda: ChunkingStrategy.hierarchical(split_by="char"), "split_by"),
    (lambda: ChunkingStrategy.recursive(recursive_separators="\n"), "recursive_separators"),
    (lambda: ChunkingStrategy.recursive(recursive_separators=[]), "recursive_separators"),
    (lambda: ChunkingStrategy.recursive(recursive_separators=["\n", 1]), "recursive_separators"),  # type: ignore[list-item]
    (
        lambda: ChunkingStrategy.hierarchical(hierarchical_block_sizes=[]),
        "hierarchical_block_sizes",
    ),
    (
        lambda: ChunkingStrategy.hierarchical(hierarchical_block_sizes=[700, 0]),
        "hierarchical_block_sizes",
    ),
    (
        lambda: ChunkingStrategy.hierarchical(hierarchical_block_sizes=[700, "350"]),  # type: ignore[list-item]
        "hierarchical_block_sizes",
    ),
    (
        lambda: ChunkingStrategy.hierarchical(hierarchical_block_sizes=700),  # type: ignore[arg-type]
        "hierarchical_block_sizes",
    ),
    (
        lambda: ChunkingStrategy.hierarchical(60, hierarchical_block_sizes=[700, 50]),
        "smallest block size",
    ),
    (lambda: ChunkingStrategy.fixed(rows_per_batch=0), "rows_per_batch"),
    (lambda: ChunkingStrategy.fixed(rows_per_batch=21), "rows_per_batch"),
    (lambda: ChunkingStrategy.fixed(rows_per_batch=True), "rows_per_batch"),
    (lambda: ChunkingStrategy.fixed(table_format="html"), "table_format"),
    (lambda: ChunkingStrategy.fixed(csv_content_column=""), "csv_content_column"),
    (lambda: ChunkingStrategy.fixed(csv_content_column=3), "csv_content_column"),  # type: ignore[arg-type]
    (lambda: ChunkingStrategy.fixed(csv_conversion_mode="cell"), "csv_conversion_mode"),
    (lambda: ChunkingStrategy(strategy="semantic", chunk_size=500), "strategy"),
    (lambda: ChunkingStrategy(strategy="hierarchical", chunk_size=500), "chunk_size"),
    (
        lambda: ChunkingStrategy(strategy="fixed", chunk_size=500, recursive_separators=["\n"]),
        "recursive_separators",
    ),
    (
        lambda: ChunkingStrategy(strategy="fixed", hierarchical_block_sizes=[100]),
        "hierarchical_block_sizes",
    ),
]


@pytest.mark.parametrize(("build", "named"), BAD_CHUNKING)
def test_a_chunking_strategy_that_cannot_be_valid(build: Callable[[], Any], named: str) -> None:
    with pytest.raises(InvalidRequestError, match=named):
        build()


def test_embedding_config() -> None:
    config = EmbeddingConfig(provider="mistral", model="mistral-embed", dimensions=1024)
    sent = config.to_dict()
    assert sent == {"provider": "mistral", "model": "mistral-embed", "dimensions": 1024}
    assert list(sent) == ["provider", "model", "dimensions"]
    assert EmbeddingConfig("mistral", "mistral-embed", 1024) == config
    assert hash(config) == hash(EmbeddingConfig("mistral", "mistral-embed", 1024))
    # a provider the docs do not name yet needs no SDK upgrade
    assert EmbeddingConfig("acme_vectors", "acme-1", 768).to_dict()["provider"] == "acme_vectors"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.dimensions = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("", "m", 1), "provider"),
        (("  ", "m", 1), "provider"),
        ((None, "m", 1), "provider"),
        (("p", "", 1), "model"),
        (("p", 5, 1), "model"),
        (("p", "m", 0), "dimensions"),
        (("p", "m", -1024), "dimensions"),
        (("p", "m", "1024"), "dimensions"),
        (("p", "m", 1024.0), "dimensions"),
        (("p", "m", True), "dimensions"),
    ],
)
def test_an_embedding_config_that_cannot_be_valid(args: tuple[Any, ...], named: str) -> None:
    with pytest.raises(InvalidRequestError, match=named):
        EmbeddingConfig(*args)


# ---- the models behave like the other result models ---------------------------------------------

BUILT = [
    Agent(id="a"),
    File(id="f"),
    Collection(id="c"),
    CollectionDatasource(),
    AddFilesResult(),
    KnowledgeBase(id="kb"),
    KnowledgeBaseStatus(),
    ConfigValidation(),
    FieldError(),
]


@pytest.mark.parametrize("model", BUILT, ids=lambda m: type(m).__name__)
def test_models_are_frozen(model: Any) -> None:
    first = attrs.fields(type(model))[0].name
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(model, first, None)


def test_models_are_exported() -> None:
    for model in BUILT:
        name = type(model).__name__
        assert getattr(models, name) is type(model)
        assert name in models.__all__
    for name in ("ChunkingStrategy", "EmbeddingConfig"):
        assert name in models.__all__


def test_equality_and_hashing_are_those_of_the_other_models() -> None:
    """Equal when the fields are equal, whatever ``raw`` holds; hashable when every field
    value is (a mapping field makes a model unhashable, as ``Execution.metadata`` does)."""
    assert File(id="f", raw={"id": "f", "x": 1}) == File(id="f")
    assert hash(File(id="f", tags=("a",))) == hash(File(id="f", tags=("a",), raw={"x": 1}))
    assert hash(FieldError("a", "b")) == hash(FieldError("a", "b"))
    assert hash(CollectionDatasource(id="x")) == hash(CollectionDatasource(id="x"))
    assert len({parse_file({"id": "f", "tags": ["a"]}), File(id="f", tags=("a",))}) == 1
    with pytest.raises(TypeError):
        hash(Agent(id="a", system_config={"name": "n"}))
    with pytest.raises(TypeError):
        hash(models.Execution(metadata={"k": "v"}))


@pytest.mark.parametrize(("name", "parse"), [*SINGLE, (STATUS_CURRENT, parse_kb_status)])
def test_reprs_do_not_dump_raw(name: str, parse: Callable[[Any], Any]) -> None:
    body = example(name)
    body["unlisted_marker"] = "SHOULD-NOT-APPEAR"
    if "knowledge_base" in body:
        body["knowledge_base"]["unlisted_marker"] = "SHOULD-NOT-APPEAR"
    text = repr(parse(body))
    assert "SHOULD-NOT-APPEAR" not in text
    assert "raw=" not in text


def test_parsed_models_equal_built_ones_and_copy_pickle_and_evolve() -> None:
    body = example("files-get.response.json")
    built = File(
        id="file_123",
        original_filename="product_manual.pdf",
        file_type="document",
        size_bytes=2048576,
        status="active",
        tags=("manual", "product"),
        created_at=JAN_15,
        updated_at=JAN_15,
        processing_info={"pages_extracted": 45, "text_length": 12500},
    )
    assert parse_file(body) == built
    assert repr(parse_file(body)) == repr(built)
    seconds = {"id": "kb", "created_at": SECONDS, "updated_at": SECONDS + 300}
    for make in (copy.copy, copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m)), attrs.evolve):
        kb = make(parse_knowledge_base(seconds))
        assert type(kb) is KnowledgeBase
        assert kb.created_at == JAN_15
        assert kb.updated_at == JAN_15 + timedelta(minutes=5)
    evolved = attrs.evolve(parse_kb_status(example(STATUS_CURRENT)), status="completed")
    assert evolved.done
    assert evolved.knowledge_base is not None

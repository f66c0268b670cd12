"""The public surface: ``__all__`` is sorted, complete against PUBLIC_API.md, and documented."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import amas_async
from amas_async import testing as amas_testing

PUBLIC_API_MD = Path(__file__).resolve().parent / "data" / "PUBLIC_API.md"
SHARED_PUBLIC_API_MD = Path(__file__).resolve().parents[2] / "shared" / "design" / "PUBLIC_API.md"

#: What PUBLIC_API.md promised when this test was written (used when the file is not present).
PROMISED_FALLBACK = frozenset(
    {
        "APIConnectionError",
        "APIStatusError",
        "APITimeoutError",
        "AgentConfig",
        "Amas",
        "AmasError",
        "AsyncAmas",
        "AuthenticationError",
        "BadRequestError",
        "ConflictError",
        "Edge",
        "ExecuteRequest",
        "Execution",
        "ExecutionError",
        "FilePart",
        "ImagePart",
        "ImageUpload",
        "InternalServerError",
        "Message",
        "MessagePage",
        "NotFoundError",
        "PermissionDeniedError",
        "RateLimitError",
        "ResponseValidationError",
        "RetryPolicy",
        "SessionConfig",
        "SessionStatus",
        "TextPart",
        "Timeout",
        "UnprocessableEntityError",
        "Usage",
    }
)

#: Promised but not built yet (the second wave's resource groups). When one of them lands in
#: ``__all__``, test_not_yet_names_are_not_public_yet fails: remove it from this set.
NOT_YET: frozenset[str] = frozenset()


def promised_names() -> frozenset[str]:
    """The ``amas.<Name>`` references of PUBLIC_API.md (or the fallback list)."""
    if not PUBLIC_API_MD.is_file():
        return PROMISED_FALLBACK
    text = PUBLIC_API_MD.read_text(encoding="utf-8")
    return frozenset(re.findall(r"\bamas\.([A-Z][A-Za-z0-9_]*)", text))


def test_all_is_sorted() -> None:
    assert list(amas_async.__all__) == sorted(amas_async.__all__)


def test_all_has_no_duplicates() -> None:
    assert len(set(amas_async.__all__)) == len(amas_async.__all__)


@pytest.mark.parametrize("name", amas_async.__all__)
def test_every_name_in_all_resolves(name: str) -> None:
    assert hasattr(amas_async, name), name
    assert getattr(amas_async, name) is not None


def test_promised_names_were_found() -> None:
    names = promised_names()
    assert {"AsyncAmas", "AmasError", "SessionConfig", "Execution"} <= names
    assert len(names) >= 25


def test_fallback_list_matches_the_design_document() -> None:
    if not PUBLIC_API_MD.is_file():
        pytest.skip(f"{PUBLIC_API_MD} is not present in this checkout")
    assert promised_names() >= PROMISED_FALLBACK


@pytest.mark.skipif(
    not SHARED_PUBLIC_API_MD.is_file(), reason="no shared/ checkout beside this one"
)
def test_vendored_public_api_matches_the_shared_design() -> None:
    assert PUBLIC_API_MD.read_bytes() == SHARED_PUBLIC_API_MD.read_bytes()


def test_every_promised_name_is_public() -> None:
    missing = sorted(promised_names() - NOT_YET - set(amas_async.__all__))
    assert missing == [], f"PUBLIC_API.md promises these, but __all__ lacks them: {missing}"


def test_not_yet_names_are_not_public_yet() -> None:
    # A name listed here must be promised and still missing; once built, drop it from NOT_YET.
    for name in NOT_YET:
        assert name in promised_names()
        assert name not in amas_async.__all__, f"{name} now exists: remove it from NOT_YET"


def test_the_seam_is_public() -> None:
    for name in ("AsyncTransport", "AiohttpTransport", "Headers", "Request", "Response"):
        assert name in amas_async.__all__
    assert "MockTransport" in amas_testing.__all__
    ok = amas_async.Response(200)
    assert isinstance(amas_testing.MockTransport(lambda r: ok), amas_async.AsyncTransport)


@pytest.mark.parametrize("name", amas_testing.__all__)
def test_every_testing_name_resolves(name: str) -> None:
    assert getattr(amas_testing, name) is not None


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from amas_async import *", namespace)
    exported = {k for k in namespace if k != "__builtins__"}
    assert exported == set(amas_async.__all__)


def _public_objects() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for name in amas_async.__all__:
        value = getattr(amas_async, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            found.append((name, value))
    return found


@pytest.mark.parametrize(
    ("name", "value"), _public_objects(), ids=[n for n, _ in _public_objects()]
)
def test_public_classes_and_functions_have_docstrings(name: str, value: object) -> None:
    doc = inspect.getdoc(value)
    assert doc, f"{name} has no docstring"
    if inspect.isclass(value):
        # a class's docstring must be its own, not inherited from a base
        assert value.__doc__, f"{name} has no docstring of its own"


@pytest.mark.parametrize(
    ("name", "value"), _public_objects(), ids=[n for n, _ in _public_objects()]
)
def test_public_methods_have_docstrings(name: str, value: object) -> None:
    if not inspect.isclass(value):
        return
    undocumented = []
    for attribute, member in vars(value).items():
        if attribute.startswith("_"):
            continue
        target = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
        if isinstance(target, property):
            target = target.fget
        if inspect.isfunction(target) and not inspect.getdoc(target):
            undocumented.append(attribute)
    assert undocumented == [], f"{name}: {undocumented}"


def test_version() -> None:
    assert isinstance(amas_async.__version__, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)*", amas_async.__version__)

"""A Griffe extension: the docstrings' Sphinx roles become links in the reference.

The package's docstrings are written for ``help()`` and IDEs, where ``:class:`Throttle```
is the usual way to name another object. The site renders docstrings as Markdown, where that
would show as ``:class:Throttle``; this extension rewrites each role, once the whole package
is loaded, into an optional cross-reference: a link when the name resolves to an object the
reference documents, plain code otherwise (a built-in such as ``ValueError``, a private
helper). Roles are resolved from the scope of the object whose docstring names them, as
Python would resolve the name there.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|meth|func|attr|exc|mod|data|obj|const):`(?P<target>[^`]+)`")


def _resolve(obj: griffe.Object, target: str) -> str | None:
    """The full path ``target`` names from ``obj``'s scope, or None."""
    name = target.lstrip(".")
    scopes: list[griffe.Object] = []
    scope: griffe.Object | None = obj
    while scope is not None:
        scopes.append(scope)
        scope = scope.parent
    head, _, rest = name.partition(".")
    for candidate in scopes:
        if candidate.is_class and head not in candidate.members and head in candidate.all_members:
            # inherited: the reference shows it under this class
            return f"{candidate.path}.{name}"
        try:
            path = candidate.resolve(head)
        except (griffe.NameResolutionError, KeyError, AttributeError, ValueError):
            continue
        return f"{path}.{rest}" if rest else path
    try:  # a full path: amas_async.resources.AsyncAgents
        return str(obj.modules_collection[name].path)
    except (KeyError, ValueError, griffe.AliasResolutionError):
        return None


def _canonical(obj: griffe.Object, path: str) -> str | None:
    """Where the object at ``path`` is defined: the identifier its reference entry answers to."""
    try:
        found = obj.modules_collection[path]
        return str(found.canonical_path)
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return path


def rewrite(text: str, obj: griffe.Object) -> str:
    """``text`` with every role replaced by an optional cross-reference."""

    def replace(match: re.Match[str]) -> str:
        target = match.group("target")
        shown = target.lstrip("~").lstrip(".")
        if target.startswith("~"):
            shown = shown.rsplit(".", 1)[-1]
        code = f"<code>{html.escape(shown)}</code>"
        path = _resolve(obj, target.lstrip("~"))
        if path is not None:
            path = _canonical(obj, path)
        if path is None:
            return code
        return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

    return ROLE.sub(replace, text)


class SphinxRolesToLinks(griffe.Extension):
    """Rewrite the roles of every docstring of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrite the docstrings of ``pkg`` and everything it defines."""
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = rewrite(obj.docstring.value, obj)
            stack.extend(
                member
                for member in obj.members.values()
                if not member.is_alias and isinstance(member, griffe.Object)
            )

"""Checks of numeric arguments, shared by every module that takes counts, rates or seconds.

Each raises :class:`~amas_async.InvalidRequestError` naming the argument. ``bool`` is never
accepted as a number (``True`` is an ``int`` in Python, but never what a caller meant).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

from .errors import InvalidRequestError

__all__ = ["check_fraction", "check_int", "check_number", "validator"]


def check_int(value: object, what: str, *, minimum: int = 1) -> int:
    """``value`` if it is an int of at least ``minimum``; else a clear error."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidRequestError(f"{what} must be an int >= {minimum}, got {value!r}")
    return value


def check_number(value: object, what: str, *, allow_zero: bool = False) -> float:
    """``value`` as a float if it is a finite number > 0 (>= 0 with ``allow_zero``)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidRequestError(f"{what} must be a finite number {bound}, got {value!r}")
    return float(value)


def validator(
    check: Callable[..., object], *, optional: bool = False, **options: Any
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator running ``check(value, "Class.field", **options)``.

    With ``optional``, None passes.
    """

    def run(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if optional and value is None:
            return
        check(value, f"{type(instance).__name__}.{attribute.name}", **options)

    return run


def check_fraction(value: object, what: str) -> float:
    """``value`` as a float if it is a number from 0 to 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidRequestError(f"{what} must be a number from 0 to 1, got {value!r}")
    return float(value)

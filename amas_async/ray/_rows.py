"""Ray Data batches as rows of plain Python values, and result columns back in the same format.

``map_batches`` hands a UDF a dict of NumPy arrays (the default), a pandas DataFrame or a
PyArrow Table, as the user's ``batch_format`` says; the stage answers in the same format.
Values come out as plain Python (NumPy scalars and arrays, including the object arrays Ray
makes of struct and list columns, become ints, floats, strs, lists and dicts), so a row's
content and inputs are what a JSON body can carry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidRequestError

__all__ = ["add_columns", "column_names", "plain", "to_rows"]


def plain(value: Any) -> Any:
    """``value`` with NumPy scalars/arrays turned into Python values, recursively.

    A float NaN (how pandas marks a missing value) becomes None.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    tolist = getattr(value, "tolist", None)  # NumPy arrays and scalars
    if callable(tolist):
        return plain(tolist())
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def _kind(batch: Any) -> str:
    if isinstance(batch, Mapping):
        return "numpy"
    module = type(batch).__module__.split(".", 1)[0]
    if module == "pandas":
        return "pandas"
    if module == "pyarrow":
        return "pyarrow"
    raise InvalidRequestError(
        "AmasExecute takes batches as a dict of NumPy arrays, a pandas DataFrame or a "
        f"PyArrow Table (map_batches' batch_format), not {type(batch).__name__}"
    )


def column_names(batch: Any) -> list[str]:
    """The batch's column names."""
    kind = _kind(batch)
    if kind == "numpy":
        return [str(name) for name in batch]
    if kind == "pandas":
        return [str(name) for name in batch.columns]
    return list(batch.column_names)


def to_rows(batch: Any) -> list[dict[str, Any]]:
    """The batch as one dict of plain values per row."""
    kind = _kind(batch)
    if kind == "pyarrow":
        return [plain(row) for row in batch.to_pylist()]
    if kind == "pandas":
        return [plain(row) for row in batch.to_dict("records")]
    columns = {str(name): plain(values) for name, values in batch.items()}
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise InvalidRequestError(f"the batch's columns differ in length: {sorted(lengths)}")
    count = lengths.pop() if lengths else 0
    return [{name: values[i] for name, values in columns.items()} for i in range(count)]


def add_columns(batch: Any, columns: Mapping[str, Sequence[Any]]) -> Any:
    """The batch with ``columns`` added (or replaced), in the batch's own format."""
    kind = _kind(batch)
    if kind == "pyarrow":
        import pyarrow as pa

        table = batch
        for name, values in columns.items():
            array = pa.array(list(values))
            if name in table.column_names:
                table = table.set_column(table.column_names.index(name), name, array)
            else:
                table = table.append_column(name, array)
        return table
    if kind == "pandas":
        frame = batch.copy()
        for name, values in columns.items():
            frame[name] = list(values)
        return frame
    import numpy as np

    out = dict(batch)
    for name, values in columns.items():
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
        out[name] = array
    return out

"""The pytest plugin's fixtures, for projects that list their plugins by hand.

Installing amas-async registers them already (the ``pytest11`` entry point names the top-level
module ``pytest_amas_async``, which imports this package only inside its fixtures so that
coverage measures the package from its first line). With ``-p no:amas_async``, or to be
explicit, a ``conftest.py`` may still say:

```python
pytest_plugins = ["amas_async.testing.pytest_plugin"]
```

The fixtures are the same objects: ``amas_emulator`` and ``amas_client`` for async tests,
``amas_emulator_sync`` for synchronous ones, ``amas_retry_clock``. See ``docs/testing.md``.
"""

from __future__ import annotations

from pytest_amas_async import (
    _amas_async_test_only,
    amas_client,
    amas_emulator,
    amas_emulator_sync,
    amas_retry_clock,
)

__all__ = [
    "_amas_async_test_only",
    "amas_client",
    "amas_emulator",
    "amas_emulator_sync",
    "amas_retry_clock",
]

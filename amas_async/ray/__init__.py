"""Executions as a Ray Data stage, with one rate limit for the whole cluster (extra ``ray``).

``pip install 'amas-async[ray]'``, then:

```python
import ray
from amas_async.ray import AmasExecute

ds = ray.data.read_json("prompts.jsonl")          # columns: id, content, ...
ds = ds.map_batches(
    AmasExecute,
    fn_constructor_kwargs={"config": "support_agent.yaml", "rate_limit": 50},
    concurrency=4,
    batch_size=64,
)
ds.write_json("results/")
```

:class:`AmasExecute` is the stage (its docstring lists the columns it reads and adds);
:class:`ClusterRateLimit` is the shared limit, kept by a small named actor running a
:class:`RateLedger`. See ``docs/scaling.md`` for when to use this, ``amas batch --shard``
under a job scheduler, or one process.
"""

from __future__ import annotations

try:
    import ray as _ray  # noqa: F401  (only to fail early with the install hint)
except ImportError as exc:  # pragma: no cover - the extra is installed where tests run
    raise ImportError("amas_async.ray needs Ray Data: pip install 'amas-async[ray]'") from exc

from ._execute import (
    INPUT_COLUMNS,
    OUTPUT_COLUMNS,
    AmasExecute,
    AmasExecuteGroups,
    InvalidRowError,
    RowFailedError,
)
from ._rate import ClusterRateLimit, RateLedger

__all__ = [
    "INPUT_COLUMNS",
    "OUTPUT_COLUMNS",
    "AmasExecute",
    "AmasExecuteGroups",
    "ClusterRateLimit",
    "InvalidRowError",
    "RateLedger",
    "RowFailedError",
]

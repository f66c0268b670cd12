"""``python -m amas_async.cli``: the ``amas`` command."""

from __future__ import annotations

from . import main

if __name__ == "__main__":
    main()

"""``python -m benchmarks``: run the benchmark suite (see ``--help``)."""

from benchmarks.run import main

raise SystemExit(main())

"""Entry point for ``uv run python bench/queue_scale.py``; the benchmark lives in the package so
``ticketing`` tooling (lint, types) covers it."""

from ticketing.bench.queue_scale import main

if __name__ == "__main__":
    main()

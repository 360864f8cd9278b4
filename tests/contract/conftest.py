"""The contract run starts the real service and runs schemathesis against it for a minute or two:
it runs when selected (``pytest -m contract``, ``make test-api``), not with the rest of the suite."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "contract" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="the live API contract run: make test-api (pytest -m contract)")
    for item in items:
        if item.get_closest_marker("contract") is not None:
            item.add_marker(skip)

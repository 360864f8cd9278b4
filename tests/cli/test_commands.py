"""The command line: operator commands, against the test servers."""

from __future__ import annotations

import json

import pytest

from ticketing.cli import main
from ticketing.container import Services


def test_admin_creates_a_concert_and_a_schedule(
    services: Services, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["admin", "create-concert", "--title", "Winter gala", "--venue", "Hall"]) == 0
    concert = json.loads(capsys.readouterr().out)
    assert concert["title"] == "Winter gala"
    args = [
        "admin", "create-schedule", "--concert-id", str(concert["id"]), "--starts-at", "2030-12-24T19:00:00+09:00",
        "--opens-at", "2030-12-01T10:00:00+09:00", "--closes-at", "2030-12-24T18:00:00+09:00",
        "--seats", "30", "--price", "70000",
    ]  # fmt: skip
    assert main(args) == 0
    schedule = json.loads(capsys.readouterr().out)
    assert schedule["seats"] == 30
    assert schedule["concert_id"] == concert["id"]
    bad = [*args[:-2], "--price", "0"]
    assert main(bad) == 2
    assert "invalid input: Expected `int` >= 1 - at `$.price`" in capsys.readouterr().err
    missing = ["admin", "create-schedule", "--concert-id", "999999999", *args[4:]]
    assert main(missing) == 1
    assert "refused (CONCERT_NOT_FOUND)" in capsys.readouterr().err

"""The command line: operator commands, against the test servers."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from ticketing.cli import main
from ticketing.container import Services
from ticketing.venues.example import hall_plan


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


def test_admin_creates_a_venue_from_a_plan_file(
    services: Services, cli_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan = hall_plan("Little Hall", zones=2, rows=3, seats_per_row=4)
    path = tmp_path / "hall.json"
    path.write_bytes(msgspec.json.encode(plan))
    assert main(["admin", "create-venue", "--plan", str(path)]) == 0
    venue = json.loads(capsys.readouterr().out)
    assert (venue["name"], venue["seat_count"]) == ("Little Hall", 24)
    assert [zone["seat_count"] for zone in venue["zones"]] == [12, 12]
    plan["zones"][0]["rows"][0]["seats"][0]["category"] = "Standing"
    path.write_bytes(msgspec.json.encode(plan))
    assert main(["admin", "create-venue", "--plan", str(path), "--name", "Other"]) == 1
    assert "refused (INVALID_SEATING_PLAN): plan.zones[0].rows[0].seats[" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="cannot read"):
        main(["admin", "create-venue", "--plan", str(tmp_path / "missing.json")])

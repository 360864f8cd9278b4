"""Seating plans of made-up halls in pretix's format, for demo data, tests and the benchmark.

``python -m ticketing.venues.example > src/ticketing/venues/plans/example-hall.json`` wrote the
example plan of the repository (a 15,000-seat arena: 15 zones of 20 rows of 50 seats, VIP, R, S
and A classes)."""

from __future__ import annotations

import sys
from importlib import resources
from typing import Any

import msgspec

CATEGORIES = [
    {"name": "VIP", "color": "#B8860B"},
    {"name": "R", "color": "#C0392B"},
    {"name": "S", "color": "#2471A3"},
    {"name": "A", "color": "#1E8449"},
]
EXAMPLE_PLAN = "example-hall.json"
SEAT_PITCH = 10.0
ROW_PITCH = 12.0


def hall_plan(
    name: str = "Example Arena", zones: int = 15, rows: int = 20, seats_per_row: int = 50, per_line: int = 5
) -> dict[str, Any]:
    """A plan of ``zones`` zones of ``rows`` rows of ``seats_per_row`` seats, ``per_line``
    zones to a line, front lines dearest: in each line of zones the front half of the rows are
    one class and the back half the next (VIP/R, R/S, S/A, then A)."""
    zone_width, zone_depth = seats_per_row * SEAT_PITCH + 40, rows * ROW_PITCH + 40
    names = [c["name"] for c in CATEGORIES]
    plan_zones = []
    for z in range(zones):
        line, place = divmod(z, per_line)
        front, back = names[min(line, len(names) - 1)], names[min(line + 1, len(names) - 1)]
        plan_rows = []
        for r in range(rows):
            category = front if r < rows // 2 else back
            plan_rows.append(
                {
                    "row_number": str(r + 1),
                    "position": {"x": 0.0, "y": r * ROW_PITCH},
                    "seats": [
                        {
                            "seat_guid": f"z{z + 1}-r{r + 1}-s{s + 1}",
                            "seat_number": str(s + 1),
                            "position": {"x": s * SEAT_PITCH, "y": 0.0},
                            "category": category,
                        }
                        for s in range(seats_per_row)
                    ],
                }
            )
        plan_zones.append(
            {
                "name": f"{'Floor' if line == 0 else f'Tier {line}'} {chr(ord('A') + place)}",
                "position": {"x": place * zone_width, "y": line * zone_depth},
                "rows": plan_rows,
                "areas": [],
            }
        )
    return {
        "name": name,
        "categories": CATEGORIES,
        "zones": plan_zones,
        "size": {"width": per_line * zone_width, "height": -(-zones // per_line) * zone_depth},
    }


def example_plan() -> dict[str, Any]:
    """The repository's example plan (15,000 seats), read from the package."""
    plan: dict[str, Any] = msgspec.json.decode(
        resources.files("ticketing.venues.plans").joinpath(EXAMPLE_PLAN).read_bytes()
    )
    return plan


if __name__ == "__main__":
    sys.stdout.write(msgspec.json.encode(hall_plan()).decode() + "\n")

"""The capacity model (bench/capacity/model.py): a simulated sale keeps the waiting room's rules
(every seat sold once, nobody counted twice, never more fans choosing than seats left), polls on
the service's own schedule, and sizes nodes from its requests and the costs it is given."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from bench.capacity.model import KINDS, Node, Sale, SaleResult, UnitCost, poll_after, simulate, size

from ticketing.waiting_room.service import WaitingRoomService, _spread


@pytest.mark.parametrize("polling", ["page", "bench"])
def test_a_sale_sells_every_seat_once_and_accounts_for_every_fan(polling: str) -> None:
    sale = Sale(
        fans=500,
        seats=50,
        arrival_seconds=5,
        hold_seconds=10,
        active_ttl_seconds=20,
        polling=polling,  # type: ignore[arg-type]
    )
    result = simulate(sale)
    assert result.weight == 1
    assert result.sold == result.bought == 50
    assert result.abandoned == 5  # every tenth holder of the first 50, none of the 5 who buy their seats
    assert result.bought + result.abandoned + result.told_sold_out == 500
    totals = result.totals()
    assert totals["join"] == 500
    assert totals["pay"] == 50
    assert totals["hold"] == result.bought + result.abandoned  # one attempt each
    assert result.sold_at(1.0) >= result.sold_at(0.9) > 0
    assert not math.isnan(result.sold_at(1.0))


def test_lumped_fans_still_sell_every_seat() -> None:
    sale = Sale(fans=2_000, seats=1_000, arrival_seconds=5, hold_seconds=10, active_ttl_seconds=20, max_agents=500)
    result = simulate(sale)
    assert result.weight == 2  # 1,000 seats // 500: never fewer than 500 buying agents
    assert result.sold == result.bought == 1_000
    assert result.bought + result.abandoned + result.told_sold_out == 2_000
    assert result.totals()["join"] == 2_000


def test_admission_never_lets_more_fans_choose_than_seats_left() -> None:
    """Five seats, everyone at once, nobody walks away: five are admitted, five buy, the rest
    are told SOLD_OUT; the hold is never refused for want of a seat."""
    result = simulate(Sale(fans=50, seats=5, arrival_seconds=0, abandon=0.0, choose_seconds=5, pay_seconds=5))
    assert result.totals()["hold"] == 5
    assert result.bought == 5 and result.told_sold_out == 45


@pytest.mark.parametrize("position", [1, 150, 1_000, 4_000, 20_000, 10**6])
@pytest.mark.parametrize("seq", [1, 7, 12_345])
def test_waiters_poll_when_the_service_tells_them(position: int, seq: int) -> None:
    service = SimpleNamespace(_grace_ms=60_000)
    told_ms = WaitingRoomService.poll_after_ms(service, "WAITING", position, 200.0, seq)  # type: ignore[arg-type]
    modelled = poll_after(Sale(fans=1, seats=1), position, 0.9 + 0.2 * _spread(seq))
    assert modelled * 1000 == pytest.approx(told_ms, abs=1)


def test_nodes_follow_the_peak_cpu() -> None:
    """1,000 polls a second at 1.2 CPU ms each: 1.2 cores, two 2-core nodes at 60 % (1.2 each)
    would do, and two is also the floor; at 12 ms: 12 cores, ten nodes."""
    free = UnitCost(0.0, 0.0, 0.0, 0.0)
    for cpu_ms, nodes in ((1.2, 2), (12.0, 10)):
        polls = {second: [1000.0 if kind == "poll" else 0.0 for kind in KINDS] for second in range(30)}
        result = SaleResult(Sale(fans=1, seats=1), weight=1, per_second=polls)
        costs = {kind: UnitCost(cpu_ms if kind == "poll" else 0.0, 2.0, 0.0, 0.0) for kind in KINDS}
        sizing = size(result, costs, Node(cores=2, idle=free))
        assert sizing.peak_cores == pytest.approx(cpu_ms)
        assert sizing.api_nodes == nodes
        assert sizing.peak_redis_commands == pytest.approx(2_000)

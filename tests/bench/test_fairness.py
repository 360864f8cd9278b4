"""Fairness under bots (bench/fairness.py): the ratio of a fan's chance to a bot's, pooled over a
row's sales (not the mean of the sales' ratios), the spread a fair draw would have (checked
against the exact hypergeometric distribution), and PASS/SHORT against 0.9."""

from __future__ import annotations

import math

import pytest
from bench.fairness import (
    FAIRNESS_TARGET,
    FairnessRow,
    SaleResult,
    chance_ratio,
    fair_ratio_sd,
    fairness_table,
    passes,
)


def sale(fan_winners: int, bot_winners: int, fans: int = 400, bots: int = 100, seats: int = 250) -> SaleResult:
    return SaleResult(fans=fans, bots=bots, seats=seats, fan_winners=fan_winners, bot_winners=bot_winners)


def test_the_ratio_is_a_fans_chance_over_a_bots() -> None:
    # The outside run: every bot buys and the fans get what is left.
    assert chance_ratio(150, 400, 100, 100) == pytest.approx(0.375)
    # A fair draw: 250 of 500 win, each with a chance of one half.
    assert chance_ratio(200, 400, 50, 100) == pytest.approx(1.0)
    # Fans favoured over bots reads above 1.
    assert chance_ratio(240, 400, 10, 100) == pytest.approx(6.0)


def test_no_bot_with_a_seat_is_infinitely_fair_and_no_winner_at_all_is_no_figure() -> None:
    assert math.isinf(chance_ratio(250, 400, 0, 100))
    assert math.isnan(chance_ratio(0, 400, 0, 100))


def test_a_row_pools_its_sales_winners_instead_of_averaging_their_ratios() -> None:
    row = FairnessRow([sale(200, 50), sale(180, 70)])
    assert row.fan_chance == pytest.approx(380 / 800)
    assert row.bot_chance == pytest.approx(120 / 200)
    assert row.ratio == pytest.approx((380 / 800) / (120 / 200))
    mean_of_ratios = (row.sales[0].ratio + row.sales[1].ratio) / 2
    assert row.ratio != pytest.approx(mean_of_ratios)  # 0.79 against 0.82


@pytest.mark.parametrize(
    ("ratio", "passed"),
    [(FAIRNESS_TARGET, True), (1.3, True), (math.inf, True), (0.8999, False), (0.38, False), (math.nan, False)],
)
def test_pass_needs_a_ratio_of_at_least_the_target(ratio: float, passed: bool) -> None:
    assert passes(ratio) is passed


def exact_ratio_sd(fans: int, bots: int, seats: int) -> float:
    """The ratio's standard deviation under a fair draw, from the hypergeometric law itself."""
    population = fans + bots
    total = math.comb(population, seats)
    pmf = {x: math.comb(bots, x) * math.comb(fans, seats - x) / total for x in range(1, min(bots, seats) + 1)}
    ratio = {x: bots * (seats - x) / (fans * x) for x in pmf}
    mass = sum(pmf.values())
    mean = sum(pmf[x] * ratio[x] for x in pmf) / mass
    return math.sqrt(sum(pmf[x] * (ratio[x] - mean) ** 2 for x in pmf) / mass)


@pytest.mark.parametrize(("fans", "bots", "seats"), [(400, 100, 250), (400, 50, 250), (400, 200, 250)])
def test_the_fair_draws_spread_is_the_hypergeometric_one(fans: int, bots: int, seats: int) -> None:
    # The delta method linearises a ratio that curves more the fewer bots win: 6 % low at B = 50.
    assert fair_ratio_sd(fans, bots, seats) == pytest.approx(exact_ratio_sd(fans, bots, seats), rel=0.08)


def test_the_fair_draws_spread_at_the_target_row_and_over_several_sales() -> None:
    one = fair_ratio_sd(400, 100, 250)
    assert one == pytest.approx(0.112, abs=0.002)  # "one standard deviation moves the ratio by ~0.1"
    assert fair_ratio_sd(400, 100, 250, sales=3) == pytest.approx(one / math.sqrt(3))
    assert fair_ratio_sd(400, 100, 500) == 0.0  # a seat for everyone: nothing is drawn


def test_the_table_gives_each_row_its_pooled_ratio_its_sales_and_its_verdict() -> None:
    fair, unfair = FairnessRow([sale(200, 50), sale(196, 54)]), FairnessRow([sale(150, 100, bots=100)])
    table = fairness_table([fair, unfair]).splitlines()
    assert len(table) == 4
    assert "| 396 / 800 | 104 / 200 |" in table[2]
    assert "| 0.95 | 1.00, 0.91 |" in table[2]
    assert table[2].count("PASS") == 1
    assert "| 0.38 | 0.38 |" in table[3]
    assert "**SHORT**" in table[3]

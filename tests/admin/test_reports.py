"""The operator's reports: the charts' series (GET .../sales) and the orders CSV (issue 25)."""

from __future__ import annotations

import csv
import io

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import TestUser, admitted_token, create_concert, create_schedule, create_user, join_queue
from tests.support import assert_problem
from ticketing.container import Services
from ticketing.kernel.spreadsheet import safe_cell
from ticketing.payments.schemas import MAX_SALES_POINTS
from ticketing.payments.service import sales_bucket_seconds


async def _buy(services: Services, fan: TestUser, concert: int, seat_ids: list[int]) -> None:
    token = await admitted_token(services, fan, concert)
    held = [await services.reservations.hold_seat(fan.principal, token, seat_id) for seat_id in seat_ids]
    await services.payments.pay(fan.principal, token, [r.id for r in held], None)


async def test_the_sales_report_counts_payments_over_time_and_seats_per_class(
    client: AsyncTestClient[Litestar], services: Services
) -> None:
    admin = await create_user(services, role="admin")
    fan = await create_user(services, balance=200_000)
    other_fan = await create_user(services, balance=200_000)
    concert = await create_concert(services)
    first = await create_schedule(services, concert, seats=5, price=20_000)
    second = await create_schedule(services, concert, seats=3, price=30_000)
    other_concert = await create_concert(services)
    elsewhere = await create_schedule(services, other_concert, seats=2)
    await _buy(services, fan, concert, [first.seats[0].id, first.seats[1].id])
    await _buy(services, other_fan, concert, [second.seats[0].id])

    url = f"/api/v1/admin/concerts/{concert}/sales"
    body = (await client.get(url, headers=admin.headers)).json()
    assert sum(p["tickets"] for p in body["timeline"]["points"]) == 3
    assert sum(p["revenue"] for p in body["timeline"]["points"]) == 70_000
    assert body["timeline"]["bucket_seconds"] == 1  # the whole sale took seconds
    assert [(c["schedule_id"], c["seat_count"], c["available"], c["held"], c["sold"]) for c in body["classes"]] == [
        (first.id, 5, 3, 0, 2),
        (second.id, 3, 2, 0, 1),
    ]

    one = (await client.get(url, params={"schedule_id": second.id}, headers=admin.headers)).json()
    assert [(p["tickets"], p["revenue"]) for p in one["timeline"]["points"]] == [(1, 30_000)]
    assert [c["schedule_id"] for c in one["classes"]] == [second.id]

    empty = (await client.get(f"/api/v1/admin/concerts/{other_concert}/sales", headers=admin.headers)).json()
    assert empty["timeline"]["points"] == [] and [c["sold"] for c in empty["classes"]] == [0]

    assert_problem(await client.get(url, headers=fan.headers), 403, "FORBIDDEN")
    assert_problem(await client.get(url), 401, "UNAUTHENTICATED")
    assert_problem(
        await client.get("/api/v1/admin/concerts/999999/sales", headers=admin.headers), 404, "CONCERT_NOT_FOUND"
    )
    assert_problem(
        await client.get(url, params={"schedule_id": elsewhere.id}, headers=admin.headers), 404, "SCHEDULE_NOT_FOUND"
    )
    for bad in ("abc", "01", "1.0", "0", "-1", "99999999999999999999"):
        assert_problem(
            await client.get(url, params={"schedule_id": bad}, headers=admin.headers), 422, "VALIDATION_ERROR"
        )


async def test_the_orders_csv_lists_every_paid_seat_and_never_a_formula(
    client: AsyncTestClient[Litestar], services: Services
) -> None:
    admin = await create_user(services, role="admin")
    formula = await create_user(services, name="=HYPERLINK(1)", balance=200_000)
    fan = await create_user(services, balance=200_000)
    concert = await create_concert(services)
    first = await create_schedule(services, concert, seats=5, price=20_000)
    second = await create_schedule(services, concert, seats=3, price=30_000)
    await _buy(services, formula, concert, [first.seats[2].id])
    await _buy(services, fan, concert, [second.seats[1].id, second.seats[0].id])

    url = f"/api/v1/admin/concerts/{concert}/orders.csv"
    response = await client.get(url, headers=admin.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="concert-{concert}-orders.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["user_name"], r["schedule_id"], r["seat"], r["amount"], r["status"]) for r in rows] == [
        ("'=HYPERLINK(1)", str(first.id), "3", "20000", "PAID"),
        (fan.name, str(second.id), "2", "30000", "PAID"),
        (fan.name, str(second.id), "1", "30000", "PAID"),
    ]
    assert all(r["class"] == "Standard" and r["zone"] == "Hall" for r in rows)

    one = await client.get(url, params={"schedule_id": first.id}, headers=admin.headers)
    assert [r["seat"] for r in csv.DictReader(io.StringIO(one.text))] == ["3"]
    assert "-schedule-" in one.headers["content-disposition"]

    assert_problem(await client.get(url, headers=fan.headers), 403, "FORBIDDEN")
    assert_problem(
        await client.get("/api/v1/admin/concerts/999999/orders.csv", headers=admin.headers), 404, "CONCERT_NOT_FOUND"
    )
    assert_problem(
        await client.get(url, params={"schedule_id": "999999"}, headers=admin.headers), 404, "SCHEDULE_NOT_FOUND"
    )
    assert_problem(await client.get(url, params={"schedule_id": "x"}, headers=admin.headers), 422, "VALIDATION_ERROR")


async def test_the_orders_csv_streams_page_after_page(
    client: AsyncTestClient[Litestar], services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ticketing.admin import service as admin_module

    monkeypatch.setattr(admin_module, "ORDERS_PER_PAGE", 2)
    admin = await create_user(services, role="admin")
    fan = await create_user(services, balance=200_000)
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=5, price=10_000)
    await _buy(services, fan, concert, [seat.id for seat in schedule.seats[:4]])
    await _buy(services, await create_user(services, balance=20_000), concert, [schedule.seats[4].id])
    response = await client.get(f"/api/v1/admin/concerts/{concert}/orders.csv", headers=admin.headers)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(int(r["seat"]) for r in rows) == [1, 2, 3, 4, 5]
    assert len({r["payment_id"] for r in rows}) == 5


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+82", "'+82"),
        ("-3", "'-3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("A-1", "A-1"),
        ("", ""),
        (None, ""),
        (-5, "-5"),
    ],
)
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(value: str | int | None, written: str) -> None:
    assert safe_cell(value) == written


def test_the_sales_buckets_keep_any_sale_within_the_chart() -> None:
    assert sales_bucket_seconds(0) == 1
    assert sales_bucket_seconds(119) == 1
    assert sales_bucket_seconds(120) == 5
    assert sales_bucket_seconds(3 * 86400) == 3600
    for span in (0, 59, 7200, 86400 * 30, 86400 * 365 * 3):
        assert span / sales_bucket_seconds(span) < MAX_SALES_POINTS


async def test_the_admitter_samples_the_queue_for_the_chart_and_keeps_it_bounded(
    client: AsyncTestClient[Litestar], services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ticketing.waiting_room import store as store_module
    from ticketing.waiting_room.jobs import admission_job

    admin = await create_user(services, role="admin")
    concert = await create_concert(services)
    await create_schedule(services, concert, seats=2)
    room = services.waiting_room
    for fan in [await create_user(services) for _ in range(5)]:
        await join_queue(services, fan.principal, concert)
    job = admission_job(room, services.schedules.seats_for_sale)
    await job.run()  # admits 2 (the seats left bound it), then samples
    await job.run()  # within SAMPLE_SECONDS of the last sample: none
    [sample] = await room.history(concert)
    assert (sample.waiting, sample.active) == (3, 2)
    assert sample.admission_rate_per_second == 0.2  # 2 in the last 10 s

    report = (await client.get(f"/api/v1/admin/concerts/{concert}/sales", headers=admin.headers)).json()
    assert [(q["waiting"], q["active"]) for q in report["queue"]] == [(3, 2)]

    monkeypatch.setattr(store_module, "MAX_SAMPLES", 3)
    for _ in range(5):
        await room.sample(concert)
    assert len(await room.history(concert)) == 3

"""Charges without an Idempotency-Key, of any wallets, go to the database together: one statement
and one commit for everything that queued (``CHARGE``), each charge still with its own ledger row
and its own answer, exactly as if they had been made one at a time in arrival order."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import msgspec

from tests.factories import TestUser, create_user, outcome_codes
from tests.support import balance_of
from ticketing.config import Settings
from ticketing.container import Services, open_services
from ticketing.idempotency.service import StoredReply
from ticketing.kernel.errors import AppError, ServiceUnavailable
from ticketing.wallets.repository import Charge, ChargeVerdict, WalletRepository

MISSING_WALLET = 999_999


def count_statements(*processes: Services) -> list[list[Charge]]:
    """From now on, the charges each ``CHARGE`` statement carries, in the order the statements are
    sent (a statement retried after a deadlock would show here as one more): counted by a wallet
    repository the processes' units of work build in place of theirs."""
    sent: list[list[Charge]] = []

    class CountedWallets(WalletRepository):
        async def charge(self, charges: list[Charge], cap: int) -> list[ChargeVerdict]:
            sent.append(list(charges))
            return await super().charge(charges, cap)

    for services in processes:
        services.uow.repositories[WalletRepository] = CountedWallets
    return sent


async def _ledger(services: Services, wallet_id: int) -> list[tuple[int, int]]:
    """(amount, balance_after) of the wallet's CHARGE rows, oldest first."""
    async with services.uow(autocommit=True) as uow:
        rows = await uow.conn.fetch(
            "SELECT amount, balance_after FROM ledger_entries WHERE wallet_id = $1 AND kind = 'CHARGE' ORDER BY id",
            wallet_id,
        )
    return [(int(amount), int(balance_after)) for amount, balance_after in rows]


async def _deadlocks(services: Services) -> int:
    async with services.uow(autocommit=True) as uow:
        sql = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        return int(await uow.conn.fetchval(sql) or 0)


def _answered_balance(reply: StoredReply) -> tuple[int, int]:
    body = msgspec.json.decode(reply.body)
    return int(body["wallet_id"]), int(body["balance"])


async def test_charges_of_many_wallets_and_one_hot_wallet_commit_together(
    services: Services,
) -> None:
    fans = [await create_user(services, balance=1_000) for _ in range(30)]
    hot = await create_user(services)
    charges: list[tuple[TestUser, int]] = [(fan, 10 * n + k) for n, fan in enumerate(fans, 1) for k in (1, 2, 3)]
    charges += [(hot, 100 + n) for n in range(60)]
    random.Random(15).shuffle(charges)
    statements = count_statements(services)
    replies = await asyncio.gather(
        *(services.wallets.charge(fan.principal, fan.wallet_id, amount, None) for fan, amount in charges)
    )

    # Everything queued before the first batch left: one statement (one commit) for all of them.
    assert [len(sent) for sent in statements] == [len(charges)]
    answered: dict[int, list[int]] = defaultdict(list)
    for reply in replies:
        assert reply.status_code == 200
        wallet_id, balance = _answered_balance(reply)
        answered[wallet_id].append(balance)
    charged: dict[TestUser, list[int]] = defaultdict(list)
    for fan, amount in charges:
        charged[fan].append(amount)
    for fan, amounts in charged.items():
        start = 1_000 if fan is not hot else 0
        assert await balance_of(services, fan.wallet_id) == (start + sum(amounts), len(amounts) + (fan is not hot))
        rows = await _ledger(services, fan.wallet_id)
        credited = rows[1:] if fan is not hot else rows
        assert [amount for amount, _ in credited] == amounts  # arrival order, one row per charge
        running = start
        for amount, balance_after in credited:  # each row saw the balance the one before it left
            running += amount
            assert balance_after == running
        # Each caller is told the balance its own charge left: exactly the ledger's, one each.
        assert sorted(answered[fan.wallet_id]) == [balance_after for _, balance_after in credited]


async def test_in_a_mixed_batch_exactly_the_bad_charges_fail(
    services: Services,
) -> None:
    cap = services.settings.balance_cap
    alice = await create_user(services, balance=500)
    bob = await create_user(services, balance=700)
    near = await create_user(services, balance=cap - 1_000)
    ghost = await create_user(services)  # signed in, then deleted (with the wallet): USER_NOT_FOUND
    async with services.uow() as uow:
        await uow.conn.execute("DELETE FROM users WHERE id = $1", ghost.id)
        await uow.commit()
    batch: list[tuple[TestUser, int, int, str]] = [  # caller, wallet, amount, the answer one at a time
        (alice, alice.wallet_id, 100, "OK"),
        (alice, bob.wallet_id, 5, "WALLET_USER_MISMATCH"),
        (near, near.wallet_id, 600, "OK"),  # 400 left
        (alice, MISSING_WALLET, 5, "WALLET_NOT_FOUND"),
        (near, near.wallet_id, 500, "BALANCE_LIMIT_EXCEEDED"),
        (bob, bob.wallet_id, 30, "OK"),
        (ghost, bob.wallet_id, 5, "USER_NOT_FOUND"),  # the seed's order: the user before the mismatch
        (ghost, ghost.wallet_id, 5, "WALLET_NOT_FOUND"),  # and the wallet before the user
        (near, near.wallet_id, 300, "OK"),  # fits after the refused 500: judged in a second statement
        (near, near.wallet_id, 200, "BALANCE_LIMIT_EXCEEDED"),
        (alice, alice.wallet_id, 200, "OK"),
    ]
    statements = count_statements(services)
    outcomes = await asyncio.gather(
        *(services.wallets.charge(user.principal, wallet, amount, None) for user, wallet, amount, _ in batch),
        return_exceptions=True,
    )

    assert outcome_codes(list(outcomes)) == [code for *_, code in batch]
    refused = outcomes[4]
    assert isinstance(refused, AppError)
    assert f"{cap - 400 + 500:,}" in refused.detail  # judged on top of the 600 credited before it
    # One statement for the batch; the two charges it left undecided (300 might fit after the
    # refused 500, and 200 comes after it) went again, and the 200 was refused on top of the 300.
    assert [len(sent) for sent in statements] == [len(batch), 2]
    assert await balance_of(services, alice.wallet_id) == (800, 3)
    assert await balance_of(services, bob.wallet_id) == (730, 2)
    assert await balance_of(services, near.wallet_id) == (cap - 100, 3)
    assert [amount for amount, _ in await _ledger(services, near.wallet_id)] == [cap - 1_000, 600, 300]
    answers = [_answered_balance(o) for o in outcomes if isinstance(o, StoredReply)]
    assert answers == [
        (alice.wallet_id, 600),
        (near.wallet_id, cap - 400),
        (bob.wallet_id, 730),
        (near.wallet_id, cap - 100),
        (alice.wallet_id, 800),
    ]


async def test_a_wallet_above_the_cap_refuses_every_charge_in_one_statement(
    services: Services,
) -> None:
    """A refund may lift a balance past the cap (it restores money that was there): then no charge
    fits, and the statement decides them all at once."""
    cap = services.settings.balance_cap
    fan = await create_user(services)
    async with services.uow() as uow:
        await uow.conn.execute("UPDATE wallets SET balance = $2 WHERE id = $1", fan.wallet_id, cap + 10)
        await uow.commit()
    statements = count_statements(services)
    outcomes = await asyncio.gather(
        *(services.wallets.charge(fan.principal, fan.wallet_id, amount, None) for amount in (1, 2, 3)),
        return_exceptions=True,
    )
    assert outcome_codes(list(outcomes)) == ["BALANCE_LIMIT_EXCEEDED"] * 3
    assert [len(sent) for sent in statements] == [3]
    assert await balance_of(services, fan.wallet_id) == (cap + 10, 0)


async def test_a_failed_second_statement_leaves_the_first_ones_answers_standing(
    services: Services,
) -> None:
    """The charges the first statement decided were committed: a later statement of the same batch
    that fails (the database gone) fails only the charges it carried."""
    cap = services.settings.balance_cap
    fan = await create_user(services, balance=cap - 1_000)
    other = await create_user(services)
    sent: list[int] = []

    class SecondFails(WalletRepository):
        async def charge(self, charges: list[Charge], cap: int) -> list[ChargeVerdict]:
            sent.append(len(charges))
            if len(sent) == 2:
                raise ServiceUnavailable("The database is unavailable; nothing was changed")
            return await super().charge(charges, cap)

    services.uow.repositories[WalletRepository] = SecondFails
    charges = [(fan, 600), (fan, 500), (other, 7), (fan, 300)]  # 300 is left for a second statement
    outcomes = await asyncio.gather(
        *(services.wallets.charge(user.principal, user.wallet_id, amount, None) for user, amount in charges),
        return_exceptions=True,
    )
    assert [getattr(o, "code", "OK") for o in outcomes] == [
        "OK",
        "BALANCE_LIMIT_EXCEEDED",
        "OK",
        "SERVICE_UNAVAILABLE",
    ]
    assert sent == [4, 1]
    assert await balance_of(services, fan.wallet_id) == (cap - 400, 2)
    assert await balance_of(services, other.wallet_id) == (7, 1)


async def test_two_processes_on_overlapping_wallets_in_opposite_orders_never_deadlock(
    services: Services, settings: Settings
) -> None:
    fans = [await create_user(services) for _ in range(24)]
    rounds = 15
    deadlocks_before = await _deadlocks(services)
    async with open_services(settings) as other:  # a second process: its own pool and its own batches
        statements = count_statements(services, other)
        for _ in range(rounds):
            forwards = [services.wallets.charge(f.principal, f.wallet_id, 1, None) for f in fans]
            backwards = [other.wallets.charge(f.principal, f.wallet_id, 2, None) for f in reversed(fans)]
            # The second process takes the first 16 wallets again too: the two lock sets overlap
            # in part, in opposite orders of arrival.
            backwards += [other.wallets.charge(f.principal, f.wallet_id, 4, None) for f in reversed(fans[:16])]
            replies = await asyncio.gather(*forwards, *backwards)
            assert all(reply.status_code == 200 for reply in replies)
    for n, fan in enumerate(fans):
        per_round = 1 + 2 + (4 if n < 16 else 0)
        assert await balance_of(services, fan.wallet_id) == (rounds * per_round, rounds * (3 if n < 16 else 2))
        running = 0
        for amount, balance_after in await _ledger(services, fan.wallet_id):
            running += amount
            assert balance_after == running
    # Each process sent one statement per round (both batches never needed a retry).
    assert len(statements) == 2 * rounds
    assert await _deadlocks(services) == deadlocks_before

"""SQL fragments over the ``wallets`` and ``ledger_entries`` tables, exported by their owner
(this domain) for the one-statement payment (``payments/repository.py``): every change of a
balance, and every ledger row, is written by SQL of this domain. Plain strings; every value is a
bound ``$n`` parameter or a column of a CTE the caller names."""


def debit(user: str, amount: str, after: str) -> str:
    """Take ``amount`` from the user's wallet only if the balance covers it (checked again on the
    latest row version after a lock wait, so two debits never spend one balance twice), and only
    when ``after`` (a comma-separated list of CTEs) has rows. Columns: id, balance."""
    return (
        f"UPDATE wallets SET balance = wallets.balance - {amount}, updated_at = now() "
        f"FROM {after} WHERE wallets.user_id = {user} AND wallets.balance >= {amount} "
        "RETURNING wallets.id, wallets.balance"
    )


def payment_entries(debited: str, debit: str, payments: str) -> str:
    """The PAYMENT ledger rows of one debit (the CTE ``debited``: id, balance after it) of the
    total ``debit``: one per row of ``payments`` (a CTE: id, amount), in id order, each with the
    balance it left. Columns: id."""
    return (
        "INSERT INTO ledger_entries (wallet_id, kind, amount, balance_after, payment_id) "
        f"SELECT {debited}.id, 'PAYMENT', {payments}.amount, "
        f"{debited}.balance + {debit} - sum({payments}.amount) OVER (ORDER BY {payments}.id), {payments}.id "
        f"FROM {debited}, {payments} ORDER BY {payments}.id RETURNING id"
    )

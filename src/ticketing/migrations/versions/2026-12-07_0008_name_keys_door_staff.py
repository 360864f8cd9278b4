"""Look-alike name keys, the door staff role, a date's tickets in order."""

import sqlalchemy as sa
from alembic import op

from ticketing.migrations.helpers import replace_check
from ticketing.users.names import name_key

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    # users.name_key: the confusable skeleton no two accounts share (users/names.py). Existing
    # accounts get theirs; of existing look-alikes the oldest keeps the key and the later ones
    # are kept apart by their id (":" is in no key of a name), so no account is lost or renamed.
    op.add_column("users", sa.Column("name_key", sa.Text(), nullable=True))
    bind = op.get_bind()
    taken: set[str] = set()
    updates: list[dict[str, object]] = []
    for user_id, name in bind.execute(sa.text("SELECT id, name FROM users ORDER BY id")):
        key = name_key(name)
        if key in taken:
            key = f"{key}:{user_id}"
        taken.add(key)
        updates.append({"id": user_id, "key": key})
    if updates:
        bind.execute(sa.text("UPDATE users SET name_key = :key WHERE id = :id"), updates)
    op.alter_column("users", "name_key", nullable=False)
    op.create_index("uq_users_name_key", "users", ["name_key"], unique=True)

    # Door staff: check tickets in and read a date's door count, nothing else.
    replace_check("users", "ck_users_role_known", "role IN ('fan', 'admin', 'door')")

    # A date's tickets, paged by id (the operators' list and CSV) and counted (the door count).
    op.create_index("ix_tickets_schedule_id_id", "tickets", ["schedule_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tickets_schedule_id_id", table_name="tickets")
    op.execute("UPDATE users SET role = 'fan' WHERE role = 'door'")
    replace_check("users", "ck_users_role_known", "role IN ('fan', 'admin')")
    op.drop_index("uq_users_name_key", table_name="users")
    op.drop_column("users", "name_key")

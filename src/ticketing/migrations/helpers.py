"""DDL steps that several revisions take alike. A revision that uses one emits exactly the
statements it wrote out before (the schema dumped at head is the same)."""

from alembic import op


def replace_check(table: str, name: str, condition: str) -> None:
    """Give the CHECK constraint ``name`` of ``table`` a new ``condition``: PostgreSQL cannot alter
    a constraint's expression, so it is dropped and created again under the same name."""
    op.drop_constraint(op.f(name), table, type_="check")
    op.create_check_constraint(op.f(name), table, condition)

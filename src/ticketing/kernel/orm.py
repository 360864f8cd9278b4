"""The schema's base: models are declared with SQLAlchemy's ORM for Alembic (the schema and its
migrations live in one place), but at run time the repositories send SQL straight to an asyncpg
pool (``kernel/db.py``): measured on a 2-core machine, a unit of work running ``SELECT 1`` costs
about 250 µs of CPU through SQLAlchemy's async engine and about 80 µs on asyncpg, and CPU is
what a sale runs out of. The service never imports this module (nor SQLAlchemy: a second of
every worker's start-up on a busy machine); the SQL fragments repositories share live in plain
modules (``<domain>/sql.py``, each exported by the owner of its tables).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

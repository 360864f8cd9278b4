from __future__ import annotations

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ticketing.kernel.orm import Base, CreatedAtMixin, IdMixin


class User(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('fan', 'admin', 'door')", name="role_known"),
        CheckConstraint("char_length(name) BETWEEN 3 AND 32", name="name_length"),
        # Names are unique regardless of case so "Alice" cannot impersonate "alice".
        Index("uq_users_lower_name", text("lower(name)"), unique=True),
        # ... nor whose confusable skeleton is another's: "aIice", "a1ice" and "alice." beside
        # "alice" (users/names.py; migration 0008).
        Index("uq_users_name_key", "name_key", unique=True),
        CheckConstraint("char_length(display_name) BETWEEN 1 AND 64", name="display_name_length"),
    )

    name: Mapped[str] = mapped_column(String(32))
    name_key: Mapped[str] = mapped_column(Text)
    # What the pages call the fan, Korean allowed (users/names.py; migration 0010); not unique.
    display_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), server_default="fan")
    # Carried in every access token (claim ``ver``); sign-out and a password change bump it, which
    # revokes every token issued before (checked on writes and operator endpoints).
    token_version: Mapped[int] = mapped_column(Integer, server_default="0")

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from ticketing.kernel.orm import Base, CreatedAtMixin, IdMixin


class Concert(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "concerts"
    __table_args__ = (CheckConstraint("char_length(title) BETWEEN 1 AND 200", name="title_length"),)

    title: Mapped[str] = mapped_column(String(200))
    venue: Mapped[str | None] = mapped_column(String(200), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The operator paused the sale (the Redis flag the admission script reads is re-asserted from it).
    sale_paused: Mapped[bool] = mapped_column(Boolean, server_default=false())

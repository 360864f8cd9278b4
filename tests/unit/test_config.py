from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import pytest
from pydantic import ValidationError

from ticketing.config import PLACEHOLDER_SECRET, Settings, to_asyncpg_url


class Urls(TypedDict):
    database_url: str
    redis_url: str


URLS: Urls = {"database_url": "postgresql://db/x", "redis_url": "redis://r/0"}


def test_production_refuses_the_default_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TICKETING_JWT_SECRET"):
        Settings(env="production", data_dir=tmp_path, admin_password="a-real-password", **URLS)


def test_production_refuses_a_short_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TICKETING_JWT_SECRET"):
        Settings(env="production", data_dir=tmp_path, jwt_secret="short", admin_password="a-real-pw", **URLS)


def test_production_refuses_the_local_admin_password(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TICKETING_ADMIN_PASSWORD"):
        Settings(env="production", data_dir=tmp_path, jwt_secret="s" * 40, admin_password="admin", **URLS)


def test_production_does_not_need_an_admin_password(tmp_path: Path) -> None:
    """Operators come from ``ticketing admin create-operator``; the server never uses it."""
    settings = Settings(env="production", data_dir=tmp_path, jwt_secret="s" * 40, **URLS)
    assert settings.admin_password == ""


def test_local_mode_s_admin_password_defaults_to_admin(tmp_path: Path) -> None:
    assert Settings(env="local", data_dir=tmp_path).admin_password == "admin"


def test_production_needs_both_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        Settings(env="production", data_dir=tmp_path, jwt_secret="s" * 40, admin_password="a-real-pw")


def test_production_accepts_real_secrets(tmp_path: Path) -> None:
    settings = Settings(env="production", data_dir=tmp_path, jwt_secret="s" * 40, admin_password="a-real-pw", **URLS)
    assert settings.jwt_secret == "s" * 40


def test_local_mode_generates_one_secret_per_data_dir(tmp_path: Path) -> None:
    first = Settings(env="local", data_dir=tmp_path)
    second = Settings(env="local", data_dir=tmp_path)
    assert first.jwt_secret != PLACEHOLDER_SECRET
    assert len(first.jwt_secret) >= 32
    assert first.jwt_secret == second.jwt_secret  # every worker of a local run agrees
    assert Settings(env="local", data_dir=tmp_path / "other").jwt_secret != first.jwt_secret


def test_plain_urls_are_read_without_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h:1/d")
    monkeypatch.setenv("REDIS_URL", "redis://h:2/0")
    settings = Settings(env="local", data_dir=tmp_path)
    assert settings.database_dsn == "postgresql://u@h:1/d"
    assert to_asyncpg_url(settings.database_dsn) == "postgresql+asyncpg://u@h:1/d"
    assert settings.redis_url == "redis://h:2/0"


def test_unknown_database_scheme() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        to_asyncpg_url("mysql://x")


@pytest.mark.parametrize("strategy", ["conditional", "optimistic", "redis", "none", "spin", "shared", ""])
def test_the_lock_study_strategies_are_refused(tmp_path: Path, strategy: str) -> None:
    """The study's other strategies are figures in docs/locking.md now, not settings: refused with
    a message that says so, bench endpoints or not."""
    for bench_endpoints in (False, True):
        with pytest.raises(ValidationError, match=r"not a lock strategy of the service.*docs/locking\.md"):
            Settings(env="local", data_dir=tmp_path, seat_lock_strategy=strategy, bench_endpoints=bench_endpoints)


def test_the_production_strategies_need_no_bench_endpoints(tmp_path: Path) -> None:
    assert Settings(env="local", data_dir=tmp_path, seat_lock_strategy="db").seat_lock_strategy == "db"
    assert Settings(env="local", data_dir=tmp_path).seat_lock_strategy == "redis+db"


def test_fan_limits_refuse_nonsense(tmp_path: Path) -> None:
    defaults = Settings(env="local", data_dir=tmp_path)
    assert (defaults.max_tickets_per_fan, defaults.max_refunds_per_fan_per_date) == (4, 2)
    assert defaults.rate_limit_charge_per_account == "10/minute;100/hour"
    with pytest.raises(ValidationError, match="max_tickets_per_fan"):
        Settings(env="local", data_dir=tmp_path, max_tickets_per_fan=0)  # would sell nothing
    with pytest.raises(ValidationError, match="max_refunds_per_fan_per_date"):
        Settings(env="local", data_dir=tmp_path, max_refunds_per_fan_per_date=-1)
    assert Settings(env="local", data_dir=tmp_path, max_refunds_per_fan_per_date=0).max_refunds_per_fan_per_date == 0
    with pytest.raises(ValidationError, match="rate_limit_charge_per_account"):
        Settings(env="local", data_dir=tmp_path, rate_limit_charge_per_account="10 per fortnight-ish")


def test_the_environment_is_production_unless_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployment that forgets TICKETING_ENV refuses the default secrets instead of running
    with them; ``make run`` and the harnesses say ``local`` themselves."""
    monkeypatch.delenv("TICKETING_ENV", raising=False)
    with pytest.raises(ValueError, match="TICKETING_ENV is production unless set"):
        Settings(data_dir=tmp_path, database_url="postgresql://db/x", redis_url="redis://r/0")
    assert Settings(env="local", data_dir=tmp_path).env == "local"
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "TICKETING_ENV=$${TICKETING_ENV:-local} $(RUN) ticketing run" in makefile

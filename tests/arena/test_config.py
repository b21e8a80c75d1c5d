"""Settings: placeholder secrets are refused; the SQLite demo persists a generated one."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from unmask.arena.core.config import Settings, resolve_secret_key
from unmask.errors import ConfigError


@pytest.mark.parametrize(
    "secret", ["changethis", "changeme", "secret", "x" * 64, "short-but-varied-1234"]
)
def test_placeholder_or_short_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValidationError, match=r"placeholder|at least 32"):
        Settings(secret_key=secret)


def test_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = "Vq3-8rTz_kLm2NpXw9YbCd4EfGh5JsUa"
    monkeypatch.setenv("UNMASK_ARENA_SECRET_KEY", key)
    monkeypatch.setenv("UNMASK_ARENA_DATA_DIR", str(tmp_path))
    assert resolve_secret_key(Settings()) == key
    assert not (tmp_path / "secret_key").exists()


def test_sqlite_demo_generates_and_keeps_a_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "arena")
    first = resolve_secret_key(settings)
    assert "generated one and stored it in" in caplog.text
    path = tmp_path / "arena" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "arena").stat().st_mode) == 0o700
    assert len(first) >= 32 and resolve_secret_key(settings) == first


def test_postgres_needs_an_explicit_secret(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://u@db/arena")
    with pytest.raises(ConfigError, match="must share one"):
        resolve_secret_key(settings)


def test_database_url_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).sqlalchemy_url == f"sqlite:///{tmp_path / 'arena.db'}"
    monkeypatch.setenv("UNMASK_DATABASE_URL", "postgresql+psycopg://u@db/arena")
    settings = Settings(data_dir=tmp_path)
    assert settings.sqlalchemy_url == "postgresql+psycopg://u@db/arena" and not settings.is_sqlite


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Settings(daily_kap=3)  # type: ignore[call-arg]

"""Server settings: one typed object, read from ``UNMASK_ARENA_*`` environment variables.

    >>> settings = Settings(database_url="sqlite:///arena.db")   # doctest: +SKIP
    >>> settings.sqlalchemy_url                                    # doctest: +SKIP
    'sqlite:///arena.db'

The database URL comes from ``UNMASK_DATABASE_URL`` (an SQLite file under ``data_dir`` when
unset). The secret key signs session cookies and CSRF tokens: placeholders are refused; when
none is given and the database is the embedded SQLite file, one is generated once and kept in
``data_dir/secret_key`` (logged). A PostgreSQL deployment has several web nodes that must share
one secret, so there it must be given.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from unmask.errors import ConfigError

log = logging.getLogger("unmask.arena")

MiB = 1024 * 1024
PLACEHOLDER_SECRETS = frozenset(
    {"changethis", "changeme", "change-me", "secret", "secretkey", "secret_key", "password",
     "test", "dev", "default", "placeholder", "xxx", "todo", "none", "null", "example"}
)  # fmt: skip
MIN_SECRET_CHARS = 32


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/unmask/arena`` (``~/.local/share/unmask/arena`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "unmask" / "arena"


class Settings(BaseSettings):
    """Everything the server, the workers and the sandbox can be told.

    >>> Settings(secret_key="changeme")  # doctest: +SKIP
    Traceback (most recent call last):
    pydantic_core._pydantic_core.ValidationError: ... looks like a placeholder ...
    """

    model_config = SettingsConfigDict(env_prefix="UNMASK_ARENA_", extra="forbid")

    database_url: str = Field(
        default="", validation_alias=AliasChoices("UNMASK_DATABASE_URL", "database_url")
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    secret_key: SecretStr | None = None
    cookie_secure: bool = False  # set on when served over HTTPS
    auto_migrate: bool = True

    # uploads
    max_csv_bytes: int = Field(default=20 * MiB, gt=0)
    max_code_bytes: int = Field(default=200 * MiB, gt=0)
    max_labels_bytes: int = Field(default=50 * MiB, gt=0)

    # brute force: failed token attempts per client address in a sliding window
    auth_failure_limit: int = Field(default=10, gt=0)
    auth_failure_window_s: int = Field(default=300, gt=0)

    # scoring workers
    poll_interval_s: float = Field(default=1.0, gt=0)
    csv_job_lease_s: int = Field(default=600, gt=0)
    max_attempts: int = Field(default=3, gt=0)

    # code submissions (see sandbox.py)
    sandbox: Literal["strict", "permissive"] = "strict"
    sandbox_memory_bytes: int = Field(default=4096 * MiB, gt=0)
    sandbox_cpu_seconds: int | None = Field(default=None, gt=0)
    sandbox_file_bytes: int = Field(default=1024 * MiB, gt=0)
    sandbox_tmpfs_bytes: int = Field(default=512 * MiB, gt=0)
    sandbox_work_dir: Path | None = None

    @field_validator("secret_key")
    @classmethod
    def _refuse_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if raw.strip().lower() in PLACEHOLDER_SECRETS or len(set(raw)) < 8:
            raise ValueError(
                "UNMASK_ARENA_SECRET_KEY looks like a placeholder; generate one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        if len(raw) < MIN_SECRET_CHARS:
            raise ValueError(
                f"UNMASK_ARENA_SECRET_KEY must have at least {MIN_SECRET_CHARS} characters; "
                f"got {len(raw)}"
            )
        return value

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to ``data_dir/arena.db``."""
        return self.database_url or f"sqlite:///{self.data_dir / 'arena.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def work_dir(self) -> Path:
        """Where code submissions are unpacked and run (private to the worker's user)."""
        return self.sandbox_work_dir or self.data_dir / "work"


def resolve_secret_key(settings: Settings) -> str:
    """The secret key: the configured one, or the persisted one of an SQLite deployment.

    >>> key = resolve_secret_key(Settings(data_dir="/tmp/arena"))  # doctest: +SKIP
    """
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    if not settings.is_sqlite:
        raise ConfigError(
            "UNMASK_ARENA_SECRET_KEY is not set; every web node of a PostgreSQL deployment must "
            "share one: generate it with python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    path = settings.data_dir / "secret_key"
    if not path.is_file():
        make_private_dir(settings.data_dir)
        fd, tmp = tempfile.mkstemp(prefix=".secret_key.", dir=settings.data_dir)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(secrets.token_urlsafe(48) + "\n")
            os.link(tmp, path)  # atomic and exclusive: a racing process keeps the first key
            log.warning("no UNMASK_ARENA_SECRET_KEY given: generated one and stored it in %s", path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < MIN_SECRET_CHARS:
        raise ConfigError(f"{path}: expected a secret of at least {MIN_SECRET_CHARS} characters")
    return key


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable only by this user: it holds the database."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path

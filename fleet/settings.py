"""Where the fleet manager keeps its state: database URL, server secret."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url


def default_state_dir() -> Path:
    """``$FLEET_STATE_DIR``, else ``$XDG_STATE_HOME/citynerve-fleet`` (~/.local/state/...)."""
    env = os.environ.get("FLEET_STATE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "citynerve-fleet"


@dataclass(frozen=True, slots=True)
class Settings:
    """Database URL and secret file of one fleet manager."""

    db_url: str
    secret_file: Path
    state_dir: Path

    @classmethod
    def from_env(cls, *, db_url: str | None = None, secret_file: Path | None = None) -> Settings:
        """Arguments first, then ``$FLEET_DATABASE_URL`` / ``$FLEET_SECRET_FILE``, then defaults."""
        state = default_state_dir()
        url = (
            db_url or os.environ.get("FLEET_DATABASE_URL") or f"sqlite:///{state / 'fleet.sqlite'}"
        )
        env_secret = os.environ.get("FLEET_SECRET_FILE")
        secret = secret_file or (Path(env_secret) if env_secret else state / "fleet-secret.key")
        return cls(db_url=url, secret_file=secret, state_dir=state)

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite."""
        return make_url(self.db_url).get_backend_name() == "sqlite"

    @property
    def db_display(self) -> str:
        """The URL without a password (for messages)."""
        return make_url(self.db_url).render_as_string(hide_password=True)

    @property
    def sqlite_path(self) -> Path | None:
        """The file of a SQLite database (None: not SQLite, or in memory)."""
        url = make_url(self.db_url)
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(str(url.database))

    def prepare(self) -> None:
        """Create a SQLite database's directory (mode 0700) and file (mode 0600) if missing."""
        path = self.sqlite_path
        if path is None:
            return
        if not path.parent.exists():
            path.parent.mkdir(parents=True, mode=0o700)
        if not path.exists():  # mode 0600 (SQLite gives its -wal and -shm files the same)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))

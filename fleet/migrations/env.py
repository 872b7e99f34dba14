"""Alembic environment of the fleet registry (run through fleet.db.migrate)."""

from __future__ import annotations

from alembic import context

from fleet.db.engine import make_engine
from fleet.db.models import Base

cfg = context.config
engine = cfg.attributes.get("engine") or make_engine(str(cfg.get_main_option("sqlalchemy.url")))
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
finally:
    if cfg.attributes.get("engine") is None:
        engine.dispose()

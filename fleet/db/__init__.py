"""The registry's data layer: SQLAlchemy 2 models, engines for SQLite and PostgreSQL, migrations."""

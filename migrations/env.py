"""Alembic environment. The URL comes from the app (see app/migrate.py) or DATABASE_URL."""

from __future__ import annotations

from alembic import context

from app.db import Base, make_engine

config = context.config


def _url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return url
    import os

    from app.config import normalize_database_url

    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("set DATABASE_URL, or run `flask --app app db upgrade`")
    return normalize_database_url(os.environ["DATABASE_URL"])


def _metadata():
    import app.inbox.models  # noqa: F401
    import app.profiles.models  # noqa: F401
    import app.shops.models  # noqa: F401

    return Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=_metadata(), literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=_metadata(),
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

"""Alembic environment: migrations run against the engine the caller hands over."""

from alembic import context
from sqlmodel import SQLModel

from bridge.store import models  # noqa: F401  (registers every table on SQLModel.metadata)

target_metadata = SQLModel.metadata


def run_migrations() -> None:
    engine = context.config.attributes.get("engine")
    if engine is None:
        from bridge.settings import load_settings
        from bridge.store.db import make_engine

        engine = make_engine(load_settings().database.url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations()

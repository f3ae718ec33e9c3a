"""What every command shares: the application context, one-line errors and output helpers."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import Engine

from bridge.cli.output import emit, json_option, log_handler
from bridge.errors import BridgeError
from bridge.logs import configure_logging
from bridge.settings import Settings, SettingsError, load_settings
from bridge.store.db import (
    DatabaseUnavailable,
    SchemaOutdated,
    make_engine,
    require_current_schema,
)

# Failures a person can act on: shown as one line, never as a traceback.
HUMAN_ERRORS: tuple[type[BaseException], ...] = (
    SettingsError,
    DatabaseUnavailable,
    SchemaOutdated,
    BridgeError,
)


class AppContext:
    """Settings and adapters, built on first use so that `bridge --help` needs no configuration."""

    def __init__(self, env_file: str | None) -> None:
        self.env_file = env_file
        self._settings: Settings | None = None
        self._engine: Engine | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(env_file=self.env_file)
            configure_logging(self._settings.log_level, log_handler())
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
        return self._engine

    def close(self) -> None:
        """Release pooled database connections when the command ends."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def ready_engine(self) -> Engine:
        """The engine, after checking that the schema is current."""
        require_current_schema(self.engine)
        return self.engine


pass_ctx = click.make_pass_decorator(AppContext)


class BridgeGroup(click.Group):
    """A click group that turns known failures into one human line and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HUMAN_ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)


__all__ = ["HUMAN_ERRORS", "AppContext", "BridgeGroup", "emit", "json_option", "pass_ctx"]

"""What every command shares: the application context, one-line errors and output helpers."""

from __future__ import annotations

import click
from sqlalchemy import Engine

from bridge.cli.group import BridgeGroup, human_errors
from bridge.cli.output import emit, json_option, log_handler
from bridge.logs import configure_logging
from bridge.process import skip_final_collection, tune_collector
from bridge.settings import Settings, load_settings
from bridge.store.db import make_engine, require_current_schema

# Failures a person can act on: shown as one line, never as a traceback.
HUMAN_ERRORS: tuple[type[BaseException], ...] = human_errors()


# Commands whose log is their output (the service, the clock, the inbox worker): they log at
# BRIDGE_LOG_LEVEL. Every other command prints its own lines, and INFO log lines only with -v.
SERVICES = ("serve", "scheduler", "work", "inbox work")


class AppContext:
    """Settings and adapters, built on first use so that `bridge --help` needs no configuration."""

    def __init__(self, env_file: str | None, *, verbose: bool = False) -> None:
        self.env_file = env_file
        self.verbose = verbose
        self._settings: Settings | None = None
        self._engine: Engine | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(env_file=self.env_file)
            configure_logging(self.log_level(self._settings.logging.level), log_handler())
        return self._settings

    def log_level(self, configured: str) -> str:
        """BRIDGE_LOG_LEVEL for the services and with --verbose; otherwise a command's
        output carries no INFO lines (its own summary says what they would)."""
        ctx = click.get_current_context(silent=True)
        command = " ".join(ctx.command_path.split()[1:]) if ctx is not None else ""
        if self.verbose or command in SERVICES or configured != "INFO":
            return configured
        return "WARNING"

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            tune_collector()  # a command that uses storage does real work (bridge.process)
            skip_final_collection()
            self._engine = make_engine(self.settings.database.url)
        return self._engine

    def reload_settings(self) -> None:
        """Read the settings again on next use (after a command wrote the settings file)."""
        self._settings = None

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


__all__ = ["HUMAN_ERRORS", "AppContext", "BridgeGroup", "emit", "json_option", "pass_ctx"]

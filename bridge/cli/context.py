"""What every command shares: the application context, one-line errors and output helpers."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bridge.cli.output import OptionValueError, emit, json_option, log_handler
from bridge.errors import BridgeError
from bridge.logs import configure_logging, redact
from bridge.settings import Settings, SettingsError, load_settings
from bridge.store.db import (
    DatabaseUnavailable,
    SchemaOutdated,
    describe_db_error,
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
# What a command shows as one line: those, the database's errors and the file system's.
_ONE_LINE_ERRORS: tuple[type[BaseException], ...] = (*HUMAN_ERRORS, SQLAlchemyError, OSError)


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


def error_line(exc: BaseException) -> str:
    """One line a person can act on, secrets masked: what every command prints on failure."""
    if isinstance(exc, SQLAlchemyError):
        text = describe_db_error(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        # "No such file or directory: '/missing/dir/x.md'", without the errno noise.
        target = f": {exc.filename!s}" if exc.filename else ""
        text = f"{exc.strerror}{target}"
    else:
        text = str(exc) or type(exc).__name__
    lines = text.strip().splitlines()
    return redact(lines[0] if lines else type(exc).__name__)


def quiet_stdout() -> None:
    """The reader of standard output went away (``bridge inbox | head``): what is still
    buffered goes nowhere, so that nothing complains when the process exits."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError):  # standard output is no file (a test runner's buffer)
        pass


class UsageLine(click.UsageError):
    """A usage mistake as README promises it: one ``error:`` line, exit status 2."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def one_line(exc: click.UsageError) -> click.UsageError:
    """Click's usage error (usage, a hint and the message on three lines) as one line that
    says where the help is; the help itself when a group was given no command."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError | UsageLine | OptionValueError):
        return exc
    message = exc.format_message().strip().rstrip(".")
    if message[1:2].islower():  # "No such option" -> "no such option"; "SKU ..." stays
        message = message[:1].lower() + message[1:]
    path = exc.ctx.command_path if exc.ctx is not None else "bridge"
    return UsageLine(f"{message} (`{path} --help` lists the options)", exc.ctx)


class BridgeGroup(click.Group):
    """A click group that turns known failures into one human line and a non-zero exit.

    Every command runs inside: broken settings, a database that is not there, a file that
    cannot be read or written, a port that is taken all end as ``error: ...`` and exit 1.
    A reader that stops reading (``bridge inbox | head``, ``less`` quit early) is no failure:
    the command stops silently with exit status 0, as other Unix tools do. A usage mistake
    (an unknown option, a missing argument, a bad value) is one ``error:`` line, exit 2.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:  # `bridge --bogus`
            raise one_line(exc) from None
        except BrokenPipeError:  # `bridge --help | head -1`
            quiet_stdout()
            raise click.exceptions.Exit(0) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # a reader gone shows here, not as noise when Python exits
            return result
        except click.UsageError as exc:
            raise one_line(exc) from None
        except BrokenPipeError:
            quiet_stdout()
            ctx.exit(0)
        except _ONE_LINE_ERRORS as exc:
            click.echo(f"error: {error_line(exc)}", err=True)
            ctx.exit(1)


__all__ = ["HUMAN_ERRORS", "AppContext", "BridgeGroup", "emit", "json_option", "pass_ctx"]

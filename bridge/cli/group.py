"""The ``bridge`` group itself: commands loaded when named, failures as one line.

This module imports nothing but click, so that ``bridge --help`` and ``bridge --version`` start
in a fraction of the time a command needs: a command's module (and with it SQLAlchemy, Alembic,
Flask, joserfc, rich) is imported only when that command runs or shows its own help. The root
help lists each command from a short help string given beside its import path;
``tests/cli/test_cli_startup.py`` checks that each string is the command's own.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any, NamedTuple

import click


class LazyCommand(NamedTuple):
    """Where a command lives (``"module:attribute"``) and the line the root help shows for it.

    The attribute is a click command, or a function without arguments that returns one (for a
    group whose subcommands are put together when it is loaded)."""

    target: str
    short_help: str


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's commands by name, each imported on first use; listing the names imports none."""

    def __init__(self, lazy: dict[str, LazyCommand]) -> None:
        self.lazy = dict(lazy)
        self.loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self.loaded:
            if name not in self.lazy:
                raise KeyError(name)
            self.loaded[name] = _load(name, self.lazy[name].target)
        return self.loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        self.lazy.pop(name, None)
        del self.loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from self.lazy
        yield from (name for name in self.loaded if name not in self.lazy)

    def __len__(self) -> int:
        return len(self.lazy.keys() | self.loaded.keys())

    def __contains__(self, name: object) -> bool:
        return name in self.lazy or name in self.loaded

    def short_help(self, name: str, limit: int) -> str | None:
        """The line the root help shows, without importing the command when it is not loaded."""
        if name in self.loaded or name not in self.lazy:
            return None
        # As click words a loaded command's line (shortened to the width, at a sentence end).
        return click.Command(name, help=self.lazy[name].short_help).get_short_help_str(limit)


def _load(name: str, target: str) -> click.Command:
    module_name, _, attribute = target.partition(":")
    found = getattr(importlib.import_module(module_name), attribute)
    command = found if isinstance(found, click.Command) else found()
    if not isinstance(command, click.Command) or command.name != name:
        raise TypeError(f"{target} is not the command {name!r}")
    return command


class OptionValueError(click.BadParameter):
    """A bad option value: one ``error:`` line naming the option, exit status 2 (usage)."""

    def show(self, file: Any = None) -> None:
        hint = self.param_hint or (
            self.param.get_error_hint(self.ctx)
            if self.param is not None and self.ctx is not None
            else ""
        )
        where = f"{str(hint).strip(chr(39))}: " if hint else ""
        click.echo(f"error: {where}{self.message}", err=True, file=file)


def human_errors() -> tuple[type[BaseException], ...]:
    """Failures a person can act on: shown as one line, never as a traceback."""
    from bridge.errors import BridgeError
    from bridge.settings import SettingsError
    from bridge.store.db import DatabaseUnavailable, SchemaOutdated

    return (SettingsError, DatabaseUnavailable, SchemaOutdated, BridgeError)


def one_line_errors() -> tuple[type[BaseException], ...]:
    """What a command shows as one line: those, the database's errors and the file system's."""
    from sqlalchemy.exc import SQLAlchemyError

    return (*human_errors(), SQLAlchemyError, OSError)


def error_line(exc: BaseException) -> str:
    """One line a person can act on, secrets masked: what every command prints on failure."""
    from sqlalchemy.exc import SQLAlchemyError

    from bridge.logs import redact
    from bridge.store.db import describe_db_error

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
    """A click group that loads its commands when named and turns known failures into one
    human line and a non-zero exit.

    Every command runs inside: broken settings, a database that is not there, a file that
    cannot be read or written, a port that is taken all end as ``error: ...`` and exit 1.
    A reader that stops reading (``bridge inbox | head``, ``less`` quit early) is no failure:
    the command stops silently with exit status 0, as other Unix tools do. A usage mistake
    (an unknown option, a missing argument, a bad value) is one ``error:`` line, exit 2.
    """

    def __init__(self, *args: Any, lazy: dict[str, LazyCommand] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(lazy or {})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The Commands section, from the short help strings: no command is imported for it."""
        commands = self.commands
        if not isinstance(commands, LazyCommands):
            super().format_commands(ctx, formatter)
            return
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows: list[tuple[str, str]] = []
        for name in names:
            text = commands.short_help(name, limit)
            if text is None:
                command = commands[name]
                if command.hidden:
                    continue
                text = command.get_short_help_str(limit)
            rows.append((name, text))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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
        except Exception as exc:
            if not isinstance(exc, one_line_errors()):
                raise
            click.echo(f"error: {error_line(exc)}", err=True)
            ctx.exit(1)


__all__ = [
    "BridgeGroup",
    "LazyCommand",
    "LazyCommands",
    "OptionValueError",
    "UsageLine",
    "error_line",
    "human_errors",
    "one_line",
    "one_line_errors",
    "quiet_stdout",
]

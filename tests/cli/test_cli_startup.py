"""`bridge --help` and `--version` start fast: no command and no heavy library is imported."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from bridge.cli.group import LazyCommands
from bridge.cli.main import COMMANDS, main

HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "flask", "joserfc", "rich")

_PROBE = """
import json, sys
from bridge.cli.main import main
try:
    main([*sys.argv[1:]], prog_name="bridge")
except SystemExit as exc:
    code = exc.code
loaded = sorted({name.split(".")[0] for name in sys.modules})
commands = sorted(name for name in sys.modules if name.startswith("bridge.cli."))
print(json.dumps({"code": code, "loaded": loaded, "cli": commands}), file=sys.stderr)
"""


def _modules_after(*args: str) -> dict[str, object]:
    done = subprocess.run(  # noqa: S603  (this interpreter, a fixed probe)
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    result: dict[str, object] = json.loads(done.stderr.strip().splitlines()[-1])
    result["stdout"] = done.stdout
    return result


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("-h",)])
def test_help_and_version_import_no_command_and_no_heavy_library(args: tuple[str, ...]) -> None:
    """`bridge --help` / `--version` in a fresh interpreter load none of SQLAlchemy, SQLModel,
    Alembic, Flask, joserfc or rich, and no command module."""
    result = _modules_after(*args)
    assert result["code"] == 0
    assert [name for name in HEAVY if name in result["loaded"]] == []  # type: ignore[operator]
    assert result["cli"] == ["bridge.cli.group", "bridge.cli.main"]
    assert result["stdout"]


def test_a_command_loads_what_it_needs_when_named() -> None:
    """`bridge sync --help` imports the sync command (and what it needs), still no other command."""
    result = _modules_after("sync", "--help")
    assert result["code"] == 0
    assert "bridge.cli.operations.sync" in result["cli"]  # type: ignore[operator]
    assert "bridge.cli.bookings" not in result["cli"]  # type: ignore[operator]
    assert "Run one sync job" in str(result["stdout"])


def test_each_short_help_in_the_table_is_the_commands_own() -> None:
    """The line the root help shows for a command is the line the loaded command gives."""
    for name, entry in COMMANDS.items():
        command = main.commands[name]
        assert command.name == name
        assert not command.hidden
        assert command.get_short_help_str(1000) == entry.short_help, (
            f"`bridge {name}`'s short help changed: copy it into COMMANDS in bridge/cli/main.py"
        )


def test_the_root_help_lists_the_table_without_loading_and_equals_the_loaded_help() -> None:
    """Listing from the table gives the same Commands section as the loaded commands would."""
    lazy = LazyCommands(COMMANDS)
    ctx = click.Context(main)
    formatter = ctx.make_formatter()
    main.format_commands(ctx, formatter)
    listed = formatter.getvalue()
    loaded = click.Group("bridge", commands={name: main.commands[name] for name in COMMANDS})
    formatter = ctx.make_formatter()
    loaded.format_commands(ctx, formatter)
    assert listed == formatter.getvalue()
    assert list(lazy) == list(COMMANDS)
    assert lazy.loaded == {}


def test_credits_has_its_grant_and_revoke_when_loaded_by_name() -> None:
    """The `credits` group is loaded with the manual adjustments attached, once."""
    group = main.commands["credits"]
    assert isinstance(group, click.Group)
    assert {"grant", "revoke", "redeem", "refund"} <= set(group.commands)

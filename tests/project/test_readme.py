"""README stays true: every setting and every command is documented there."""

from __future__ import annotations

import re

import click

from bridge.cli.main import main
from bridge.settings import VARIABLES, render_settings_table
from tests.support.paths import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_configuration_table():
    """Each environment variable the bridge reads has a row in README's table."""
    rows = set(re.findall(r"^\| `([A-Z_]+)` \|", README, flags=re.MULTILINE))
    assert rows == {var.name for var in VARIABLES}


def test_the_configuration_table_is_the_one_generated_from_the_declaration():
    """README's table is render_settings_table(): groups, defaults and descriptions as declared."""
    assert render_settings_table() in README, (
        "README's settings table is out of date; regenerate it: python scripts/settings_docs.py"
    )


def test_every_command_is_in_the_command_table():
    """Each top-level `bridge` command appears in README's command-line section."""
    ctx = click.Context(main)
    missing = [name for name in main.list_commands(ctx) if f"`bridge {name}" not in README]
    assert missing == []


def test_quick_start_has_the_two_commands():
    """The quick start installs and serves, and installs and runs the test command CI runs."""
    quick = README.split("## Quick start", 1)[1].split("###", 1)[0]
    commands = re.findall(r"```sh\n(.+?)\n```", quick)
    assert len(commands) == 2
    assert commands[0].endswith("bridge init && bridge serve")
    assert commands[1].endswith("python -m pytest -q")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest -q" in ci

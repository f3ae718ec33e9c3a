"""The ``bridge`` command: the composition root that wires settings, storage, webhooks and sync."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine

from bridge import __version__
from bridge.db import (
    DatabaseUnavailable,
    SchemaOutdated,
    make_engine,
    require_current_schema,
    upgrade,
)
from bridge.errors import BridgeError
from bridge.logs import configure_logging
from bridge.settings import Settings, SettingsError, load_settings, render_env_file

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
            configure_logging(self._settings.log_level)
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


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print data as stable JSON for scripts or through ``render`` for people."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        render(data)


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


@click.group(cls=BridgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="creator-bridge")
@click.option(
    "--env-file",
    default=".env",
    show_default=True,
    help="Settings file to read; the real environment wins over it.",
)
@click.pass_context
def main(ctx: click.Context, env_file: str) -> None:
    """creator-bridge: turn WooCommerce purchases into mentor credits and cohort seats."""
    ctx.obj = AppContext(env_file)
    ctx.call_on_close(ctx.obj.close)


@main.command()
@click.option("--path", "env_path", default=".env", show_default=True, help="File to write.")
@pass_ctx
def init(app: AppContext, env_path: str) -> None:
    """Write .env with a fresh webhook secret and create the database."""
    target = Path(env_path)
    if target.exists():
        click.echo(f"{target} exists; left as it is (delete it to start over)")
    else:
        secret = secrets.token_urlsafe(32)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render_env_file({"WOOCOMMERCE_WEBHOOK_SECRET": secret}))
        click.echo(f"wrote {target} (readable by you only) with a new webhook secret")
    app.env_file = str(target)
    revision = upgrade(app.engine)
    click.echo(f"database ready at schema revision {revision}")
    catalogue_file = app.settings.catalog_file
    if not catalogue_file.exists():
        from bridge.cli_demo import find_example_catalogue

        try:
            shutil.copyfile(find_example_catalogue(), catalogue_file)
            click.echo(f"wrote {catalogue_file} from the example catalogue; edit it for your shop")
        except BridgeError:
            click.echo(f"no {catalogue_file} yet: write one (see catalog.example.toml)")
    if catalogue_file.exists():
        from bridge.catalog_file import read_catalogue_file
        from bridge.handlers import store_file_catalogue

        store_file_catalogue(app.engine, read_catalogue_file(catalogue_file))
        click.echo(f"catalogue {catalogue_file} stored; `bridge doctor` checks the rest")


@main.command("config")
@json_option
@pass_ctx
def config_command(app: AppContext, as_json: bool) -> None:
    """Show the effective settings, secrets masked."""

    def render(values: dict[str, str]) -> None:
        width = max(len(name) for name in values)
        for name, value in values.items():
            click.echo(f"{name:<{width}}  {value or '(not set)'}")

    emit(app.settings.masked(), as_json, render)


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(app: AppContext) -> None:
    """Create the schema or upgrade it to this version."""
    revision = upgrade(app.engine)
    click.echo(f"database schema at revision {revision}")


@main.command()
@json_option
@pass_ctx
def doctor(app: AppContext, as_json: bool) -> None:
    """Check settings, database, schema and the shop. One line per check with its fix."""
    from bridge.doctor import run_checks

    try:
        settings = app.settings
    except SettingsError as exc:
        checks = [{"check": "settings", "ok": False, "detail": str(exc),
                   "fix": f"set {exc.variable} in .env or the environment"}]
    else:
        checks = run_checks(settings, app.engine)

    def render(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            mark = "PASS" if row["ok"] else "FAIL"
            fix = f"  -> {row['fix']}" if not row["ok"] and row.get("fix") else ""
            click.echo(f"[{mark}] {row['check']}: {row['detail']}{fix}")

    emit(checks, as_json, render)
    if not all(row["ok"] for row in checks):
        sys.exit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--threads", default=4, show_default=True, type=int, help="Request threads.")
@click.option("--no-scheduler", is_flag=True,
              help="Do not run the sync jobs in this process (a separate `bridge scheduler` does).")
@pass_ctx
def serve(app: AppContext, host: str, port: int, threads: int, no_scheduler: bool) -> None:
    """Run the webhook receiver, the API and the sync scheduler.

    One gunicorn process; --no-scheduler leaves the jobs to a separate `bridge scheduler`.
    """
    from webhooks import create_app
    from webhooks.server import run_server

    settings = app.settings
    engine = app.ready_engine()
    flask_app = create_app(settings, engine)
    hooks: dict[str, Any] = {}
    if settings.sync_active and not no_scheduler:
        from bridge.cli_sync import embedded_scheduler

        hooks["on_worker_start"], hooks["on_worker_exit"] = embedded_scheduler(settings)
    click.echo(f"creator-bridge {__version__} listening on http://{host}:{port}"
               + ("" if hooks else " (scheduler off)"))
    run_server(flask_app, host=host, port=port, threads=threads, **hooks)


from bridge.cli_catalog import catalog  # noqa: E402  (after main exists; imports nothing from here)

main.add_command(catalog)

from bridge.cli_credits import credits, tokens  # noqa: E402  (as above)

main.add_command(tokens)
main.add_command(credits)

from bridge.cli_learner import attach_adjustments, learner, owes_command  # noqa: E402
from bridge.cli_webhooks import inbox, simulate, webhooks  # noqa: E402

attach_adjustments(credits)
main.add_command(learner)
main.add_command(owes_command)
main.add_command(webhooks)
main.add_command(inbox)
main.add_command(simulate)

from bridge.cli_demo import demo  # noqa: E402

main.add_command(demo)

from bridge.cli_sync import scheduler_command, sync_command  # noqa: E402  (as above)

main.add_command(sync_command)
main.add_command(scheduler_command)

from bridge.cli_outbox import outbox  # noqa: E402  (after main exists; imports nothing from here)

main.add_command(outbox)

from bridge.cli_events import events  # noqa: E402  (as above)
from bridge.cli_report import report_command  # noqa: E402  (as above)

main.add_command(report_command)
main.add_command(events)

"""Setting up and running the service: init, config, db upgrade and backup, doctor, serve."""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from bridge import __version__
from bridge.cli.context import AppContext, emit, json_option, pass_ctx
from bridge.cli.output import activity
from bridge.errors import BridgeError
from bridge.services.orders import record_watch_start
from bridge.settings import SettingsError, declared, render_env_file
from bridge.store.db import backup_sqlite, schema_status, upgrade
from bridge.store.models import utcnow


@click.command()
@click.option("--path", "env_path", default=".env", show_default=True, help="File to write.")
@pass_ctx
def init(app: AppContext, env_path: str) -> None:
    """Create the database, then write .env with fresh secrets.

    The database comes first: when it cannot be reached or created, nothing is written.
    """
    from bridge.services.operations import create_private, protect
    from bridge.store.backups import sqlite_files

    target = Path(env_path)
    app.env_file = str(target)
    # The file about to be written sets no DATABASE_URL of its own beyond the default, so the
    # settings read now (environment, or the existing file) name the same database.
    for database_file in sqlite_files(app.settings.database.url)[:1]:
        if database_file.parent.is_dir():
            create_private(database_file)  # personal data: never readable by others, even briefly
    revision = upgrade(app.engine)
    click.echo(f"database ready at schema revision {revision}")
    since = record_watch_start(app.engine, utcnow(), "init")
    click.echo(
        f"watching the shop since {since:%Y-%m-%d %H:%M} UTC: customers hear (notes, "
        "coupons) only of changes from then on; older orders still grant, silently"
    )
    if target.exists():
        if _add_secret_key(target):
            click.echo(f"{target} exists; added a BRIDGE_SECRET_KEY for the console's sessions")
        else:
            click.echo(f"{target} exists; left as it is (delete it to start over)")
    else:
        _write_env_file(target)
        click.echo(
            f"wrote {target} (readable by you only) with new webhook, claim and booking "
            "secrets and a console session key"
        )
        app.reload_settings()
    catalogue_file = app.settings.catalogue.file
    if not catalogue_file.exists():
        from bridge.services.operations import example_catalogue_text

        catalogue_file.write_text(example_catalogue_text(), encoding="utf-8")
        click.echo(
            f"wrote {catalogue_file} from the example catalogue (the sample shop of a "
            "data-visualisation creator); edit it for your shop"
        )
    if catalogue_file.exists():
        from bridge.services.catalogue import apply_catalogue

        applied = apply_catalogue(
            app.engine, catalogue_file, app.settings, operator="bridge init", via="cli"
        )
        state = "already in force" if applied.unchanged else "applied"
        click.echo(f"catalogue {catalogue_file} {state}; `bridge doctor` checks the rest")
    _init_signing_key(app)
    for line in protect(app.settings, target, Path.cwd()):
        click.echo(line)


def _init_signing_key(app: AppContext) -> None:
    """Generate the credential signing key once, readable by its owner only."""
    from bridge.services.credentials import create_key_file

    if app.settings.credentials.signing_key:
        click.echo("credential signing key: from BRIDGE_CREDENTIAL_SIGNING_KEY")
        return
    path = Path(app.settings.credentials.key_file)
    key, generated = create_key_file(path)
    state = "generated" if generated else "kept"
    click.echo(
        f"credential signing key {state}: {path} (readable by you only), "
        f"thumbprint {key.thumbprint}"
    )


def _add_secret_key(target: Path) -> bool:
    """Give an older .env the console's session key; True when one was added."""
    from dotenv import dotenv_values

    key = declared("console", "secret_key")
    if dotenv_values(target).get(key.name):
        return False
    text = target.read_text(encoding="utf-8")
    with target.open("a", encoding="utf-8") as handle:
        handle.write(
            ("" if text.endswith("\n") or not text else "\n")
            + f"# {key.doc}\n{key.name}={secrets.token_urlsafe(32)}\n"
        )
    return True


def _write_env_file(target: Path) -> None:
    """Write the settings file whole or not at all (a failure leaves no partial file)."""
    secret = secrets.token_urlsafe(32)
    text = render_env_file(
        {
            "WOOCOMMERCE_WEBHOOK_SECRET": secret,
            "BRIDGE_CLAIM_SECRET": secrets.token_urlsafe(32),
            # Booking tools get secrets of their own, so one leaked secret forges one source.
            "BRIDGE_CALCOM_WEBHOOK_SECRET": secrets.token_urlsafe(32),
            "BRIDGE_CALENDLY_SIGNING_KEY": secrets.token_urlsafe(32),
            "BRIDGE_SECRET_KEY": secrets.token_urlsafe(32),
        }
    )
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise BridgeError(
            f"the database is ready, but {target} could not be written: {exc.strerror}"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise BridgeError(
            f"the database is ready, but {target} could not be written: {exc.strerror}"
        ) from None


@click.command("config")
@json_option
@pass_ctx
def config_command(app: AppContext, as_json: bool) -> None:
    """Show the effective settings, secrets masked."""

    def render(values: dict[str, str]) -> None:
        width = max(len(name) for name in values)
        for name, value in values.items():
            click.echo(f"{name:<{width}}  {value or '(not set)'}")

    emit(app.settings.masked(), as_json, render)


@click.group()
def db() -> None:
    """Database schema and backup commands."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(app: AppContext) -> None:
    """Create the schema or upgrade it to this version."""
    revision = upgrade(app.engine)
    click.echo(f"database schema at revision {revision}")


@db.command("restore")
@click.argument(
    "source", metavar="FILE", type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option("--force", is_flag=True, help="Replace the database that is there now.")
@json_option
@pass_ctx
def db_restore(app: AppContext, source: Path, force: bool, as_json: bool) -> None:
    """Restore a backup in the database's place.

    FILE is a copy made by `bridge db backup` or the backup job. Stop the service first. The
    file must be a backup of this service at a schema revision this version knows; the schema is
    upgraded after. An existing database is replaced only with --force (SQLite keeps it beside,
    as FILE.before-restore-TIME). PostgreSQL backups are pg_dump files, restored with
    pg_restore.
    """
    from bridge.store.backups import restore

    app.close()  # no connection of this command may hold the file being replaced
    revision = restore(app.settings.database.url, source, force=force, now=utcnow())
    current = upgrade(app.engine)
    data = {"file": str(source), "backup_revision": revision, "schema": current}
    emit(
        data,
        as_json,
        lambda d: click.echo(
            f"restored {d['file']} (taken at schema revision {d['backup_revision']}); "
            f"database schema at revision {d['schema']}"
        ),
    )


@db.command("backup")
@click.argument("target", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@pass_ctx
def db_backup(app: AppContext, target: Path, as_json: bool) -> None:
    """Copy the SQLite database to FILE, live (SQLite's online backup).

    The copy is consistent even while webhooks and syncs write. On PostgreSQL use pg_dump
    (README, "Backups and recovery").
    """
    copied = backup_sqlite(app.settings.database.url, target)
    data = {
        "file": str(copied),
        "bytes": copied.stat().st_size,
        "schema": schema_status(app.engine).current,
    }
    emit(
        data,
        as_json,
        lambda d: click.echo(
            f"backed up to {d['file']} ({d['bytes']} bytes, schema revision {d['schema']}); "
            "restore: stop the service, copy it over the database file, `bridge db upgrade`"
        ),
    )


@click.command()
@json_option
@pass_ctx
def doctor(app: AppContext, as_json: bool) -> None:
    """Check the settings, database, catalogue and shop.

    One line per check: settings, database, schema, catalogue and, when configured, the
    shop's REST API (read and write). Exit status 1 when a check fails.
    """
    from bridge.services.operations import file_checks, run_checks

    try:
        settings = app.settings
    except SettingsError as exc:
        checks = [
            {
                "check": "settings",
                "ok": False,
                "detail": str(exc),
                "fix": f"set {exc.variable} in .env or the environment",
            }
        ]
    else:
        checks = run_checks(settings, app.engine, around_shop=None if as_json else activity)
        checks.extend(file_checks(settings, Path(app.env_file or ".env"), Path.cwd()))

    def render(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            mark = "WARN" if row.get("warning") else "PASS" if row["ok"] else "FAIL"
            shown = not row["ok"] or row.get("warning")
            fix = f"  -> {row['fix']}" if shown and row.get("fix") else ""
            click.echo(f"[{mark}] {row['check']}: {row['detail']}{fix}")

    emit(checks, as_json, render)
    if not all(row["ok"] for row in checks):
        sys.exit(1)


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port out of range or taken before gunicorn retries binding it for seconds."""
    if not 1 <= port <= 65535:
        raise BridgeError(f"--port must be from 1 to 65535, not {port}")
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise BridgeError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(another process may use it: pick another --port)"
        ) from None


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--threads",
    default=4,
    show_default=True,
    type=int,
    help="Request threads (at most BRIDGE_PAGE_CONCURRENCY of them prepare pages).",
)
@click.option(
    "--no-scheduler",
    is_flag=True,
    help="Do not run the sync jobs in this process (a separate `bridge scheduler` does).",
)
@pass_ctx
def serve(app: AppContext, host: str, port: int, threads: int, no_scheduler: bool) -> None:
    """Run the webhook receiver, the API and the sync scheduler.

    One gunicorn process; --no-scheduler leaves the jobs to a separate `bridge scheduler`.
    """
    from webhooks import create_app
    from webhooks.server import run_server

    _check_port_free(host, port)
    settings = app.settings
    if threads <= settings.web.page_concurrency:
        raise BridgeError(
            f"--threads {threads} leaves no thread for webhook deliveries when "
            f"{settings.web.page_concurrency} pages run (BRIDGE_PAGE_CONCURRENCY): "
            f"use --threads {settings.web.page_concurrency + 2} or lower the setting"
        )
    engine = app.ready_engine()
    flask_app = create_app(settings, engine, env_file=app.env_file)
    processor = flask_app.extensions["bridge"].processor
    scheduler: tuple[Callable[[], None], Callable[[], None]] | None = None
    if settings.sync_active and not no_scheduler:
        from bridge.cli.operations.sync import embedded_scheduler

        scheduler = embedded_scheduler(settings)

    def on_worker_start() -> None:
        # Inside the gunicorn worker: what is stored is processed now, not at the next delivery.
        processor.start()
        if scheduler is not None:
            scheduler[0]()

    def on_worker_exit() -> None:
        processor.stop()
        if scheduler is not None:
            scheduler[1]()

    hooks: dict[str, Any] = {"on_worker_start": on_worker_start, "on_worker_exit": on_worker_exit}
    click.echo(
        f"creator-bridge {__version__} listening on http://{host}:{port}"
        + ("" if scheduler else " (scheduler off)")
    )
    click.echo(
        f"API docs at http://{host}:{port}/api/v1/docs/; this terminal now shows the "
        "service's log: run other `bridge` commands in a second terminal; Ctrl-C stops "
        "it"
    )
    run_server(flask_app, host=host, port=port, threads=threads, **hooks)

"""The `bridge` command: help, init, config, db upgrade, doctor, and a real `bridge serve`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from bridge.cli.main import main
from bridge.settings import VARIABLES, load_settings, render_env_file
from bridge.store.db import head_revision, make_engine, schema_status

SECRETS = {
    "WOOCOMMERCE_URL": "https://shop.example.com",
    "WOOCOMMERCE_CONSUMER_KEY": "ck_live_abcdefghijklmnopqrstuvwxyz",
    "WOOCOMMERCE_CONSUMER_SECRET": "cs_live_zyxwvutsrqponmlkjihgfedcba",
    "WOOCOMMERCE_WEBHOOK_SECRET": "whsec_0123456789abcdefghij",
}


def bridge(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, terminal_width=80)


def _help_lines(result: Result) -> dict[str, str]:
    """The rows of the Commands section of a help page: name -> description."""
    lines = result.output.split("Commands:\n", 1)[1].splitlines()
    rows: dict[str, str] = {}
    for line in lines:
        if line.startswith("  ") and not line.startswith("   "):
            name, _, description = line.strip().partition(" ")
            rows[name] = description.strip()
        elif line.strip():
            pytest.fail(f"a command description runs over one line: {line!r}")
    return rows


def _groups(
    group: click.Group, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Group]]:
    yield path, group
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _groups(command, (*path, name))


def test_help_lists_every_command_with_a_one_line_description(workdir: Path) -> None:
    """`bridge --help` and each group's help show every command on one complete line."""
    for path, group in _groups(main):
        result = bridge(*path, "--help")
        assert result.exit_code == 0, result.output
        rows = _help_lines(result)
        assert set(rows) == set(group.commands), path
        for name, description in rows.items():
            assert description, f"{' '.join((*path, name))} has no description"
            assert not description.endswith("..."), f"{' '.join((*path, name))}: cut short"


def test_help_needs_no_configuration(workdir: Path) -> None:
    """Help works even when a setting is malformed, since nothing reads settings to show it."""
    result = bridge("--help", env={"BRIDGE_HTTP_MAX_ATTEMPTS": "lots"})
    assert result.exit_code == 0
    for command in ("init", "config", "db", "doctor", "serve"):
        assert f"  {command} " in result.output


def test_init_writes_an_env_file_only_its_owner_can_read_with_fresh_secrets(
    workdir: Path,
) -> None:
    """`bridge init` writes .env mode 0600 from the documented example plus new secrets."""
    result = bridge("init")
    assert result.exit_code == 0, result.output
    env_file = workdir / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    written = load_settings(environ={}, env_file=env_file)
    secret, claim_secret = written.shop.webhook_secret, written.claims.secret
    key = written.console.secret_key
    assert secret and len(secret) >= 32 and claim_secret and len(claim_secret) >= 32
    calcom, calendly = written.bookings.calcom_webhook_secret, written.bookings.calendly_signing_key
    assert calcom and len(calcom) >= 32 and calendly and len(calendly) >= 32
    assert key and len(key) >= 32
    assert len({secret, claim_secret, calcom, calendly, key}) == 5
    assert env_file.read_text() == render_env_file(
        {
            "WOOCOMMERCE_WEBHOOK_SECRET": secret,
            "BRIDGE_CLAIM_SECRET": claim_secret,
            "BRIDGE_CALCOM_WEBHOOK_SECRET": calcom,
            "BRIDGE_CALENDLY_SIGNING_KEY": calendly,
            "BRIDGE_SECRET_KEY": key,
        }
    )
    for each in (secret, claim_secret, calcom, calendly, key):
        assert each not in result.output


def test_two_inits_generate_different_webhook_secrets(tmp_path: Path, workdir: Path) -> None:
    """Each installation gets its own secrets."""
    first, second = tmp_path / "one.env", tmp_path / "two.env"
    assert bridge("init", "--path", str(first)).exit_code == 0
    assert bridge("init", "--path", str(second)).exit_code == 0
    one = load_settings(environ={}, env_file=first)
    two = load_settings(environ={}, env_file=second)
    assert one.shop.webhook_secret != two.shop.webhook_secret
    assert one.console.secret_key != two.console.secret_key


def test_init_keeps_an_existing_env_file_adding_only_a_missing_console_key(workdir: Path) -> None:
    """An existing .env keeps every line; a console session key is added once, if missing."""
    env_file = workdir / ".env"
    env_file.write_text("WOOCOMMERCE_WEBHOOK_SECRET=keep-this-one-please\n")
    result = bridge("init")
    assert result.exit_code == 0, result.output
    text = env_file.read_text()
    assert text.startswith("WOOCOMMERCE_WEBHOOK_SECRET=keep-this-one-please\n")
    key = load_settings(environ={}, env_file=env_file).console.secret_key
    assert key and len(key) >= 32 and "added a BRIDGE_SECRET_KEY" in result.output
    again = bridge("init")
    assert env_file.read_text() == text and "left as it is" in again.output


def test_init_creates_the_database_at_the_newest_schema(workdir: Path) -> None:
    """After `bridge init` the default SQLite file exists with the current schema."""
    assert bridge("init").exit_code == 0
    database = workdir / "creator-bridge.db"
    assert database.is_file()
    engine = make_engine(f"sqlite:///{database}")
    try:
        assert schema_status(engine).up_to_date
    finally:
        engine.dispose()


def test_config_shows_every_variable_with_secrets_masked(workdir: Path) -> None:
    """`bridge config` lists the effective settings and never a whole secret."""
    result = bridge("config", env=SECRETS)
    assert result.exit_code == 0, result.output
    for var in VARIABLES:
        assert var.name in result.output
    for name in (
        "WOOCOMMERCE_CONSUMER_KEY",
        "WOOCOMMERCE_CONSUMER_SECRET",
        "WOOCOMMERCE_WEBHOOK_SECRET",
    ):
        assert SECRETS[name] not in result.output
    assert "https://shop.example.com" in result.output


def test_config_json_has_one_stable_key_per_variable(workdir: Path) -> None:
    """`bridge config --json` prints an object keyed by the variable names, secrets masked."""
    result = bridge("config", "--json", env=SECRETS)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert sorted(data) == sorted(var.name for var in VARIABLES)
    assert data["WOOCOMMERCE_URL"] == "https://shop.example.com"
    assert SECRETS["WOOCOMMERCE_CONSUMER_SECRET"] not in result.output
    assert data["BRIDGE_PUBLIC_URL"] == ""


def test_config_reads_the_env_file_named_on_the_command_line(workdir: Path) -> None:
    """--env-file chooses which settings file is read."""
    (workdir / "other.env").write_text("BRIDGE_LOG_LEVEL=WARNING\n")
    result = bridge("--env-file", "other.env", "config", "--json")
    assert json.loads(result.output)["BRIDGE_LOG_LEVEL"] == "WARNING"


@pytest.mark.parametrize("command", [("config",), ("db", "upgrade"), ("init",)])
def test_a_malformed_setting_fails_with_one_human_line_naming_the_variable(
    workdir: Path, command: tuple[str, ...]
) -> None:
    """Exit code 1 and a single line on stderr that names the variable; no traceback."""
    result = bridge(*command, env={"BRIDGE_HTTP_MAX_ATTEMPTS": "lots"})
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "BRIDGE_HTTP_MAX_ATTEMPTS" in lines[0]
    assert "must be a whole number" in lines[0]
    assert "BRIDGE_HTTP_MAX_ATTEMPTS=5" in lines[0]
    assert "Traceback" not in result.output


def test_db_upgrade_creates_the_schema_in_a_new_sqlite_file(workdir: Path) -> None:
    """`bridge db upgrade` on a file that does not exist yet creates it at the newest revision."""
    database = workdir / "data" / "new.db"
    database.parent.mkdir()
    env = {"DATABASE_URL": f"sqlite:///{database}"}
    result = bridge("db", "upgrade", env=env)
    assert result.exit_code == 0, result.output
    assert head_revision() in result.output
    assert bridge("db", "upgrade", env=env).exit_code == 0
    engine = make_engine(env["DATABASE_URL"])
    try:
        assert schema_status(engine).up_to_date
    finally:
        engine.dispose()


def test_doctor_on_a_fresh_install_passes_settings_database_and_schema(workdir: Path) -> None:
    """After `bridge init`, doctor passes settings, database and schema, and reports no shop."""
    assert bridge("init").exit_code == 0
    result = bridge("doctor", "--json")
    rows = {row["check"]: row for row in json.loads(result.output)}
    for check in ("settings", "database", "schema"):
        assert rows[check]["ok"], rows[check]
    assert "not configured" in rows["shop"]["detail"]
    text = bridge("doctor").output
    assert "[PASS] settings:" in text
    assert "[PASS] database:" in text
    assert "[PASS] schema:" in text


def test_doctor_on_an_empty_database_fails_the_schema_check_with_its_fix(workdir: Path) -> None:
    """Doctor marks a missing schema as failed, names `bridge db upgrade` and exits non-zero."""
    result = bridge("doctor")
    assert result.exit_code == 1
    assert "[FAIL] schema:" in result.output
    assert "bridge db upgrade" in result.output


def test_doctor_reports_a_malformed_setting_as_a_failed_check(workdir: Path) -> None:
    """A bad setting becomes a failed settings line with the variable, not a traceback."""
    result = bridge("doctor", env={"BRIDGE_SYNC_ENABLED": "maybe"})
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "[FAIL] settings: BRIDGE_SYNC_ENABLED must be true or false" in result.output


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _bridge_executable() -> str:
    beside = Path(sys.executable).with_name("bridge")
    found = str(beside) if beside.is_file() else shutil.which("bridge")
    assert found, "the `bridge` console script is not installed"
    return found


def test_serve_answers_healthz_on_a_fresh_install_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`bridge init` then `bridge serve` answer GET /healthz over HTTP, and SIGTERM stops them."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {var.name for var in VARIABLES}
    }
    executable = _bridge_executable()
    subprocess.run(  # noqa: S603  (our own console script, fixed arguments)
        [executable, "init"], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=60
    )
    port = _free_port()
    out, err = (tmp_path / "serve.out").open("wb"), (tmp_path / "serve.err").open("wb")
    server = subprocess.Popen(  # noqa: S603  (our own console script, fixed arguments)
        [executable, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=out,
        stderr=err,
        stdin=subprocess.DEVNULL,
    )
    try:
        health_url = f"http://127.0.0.1:{port}/healthz"
        body, deadline = None, time.monotonic() + 20
        while body is None and time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "serve.err").read_text()
            try:
                # S310: the URL is a fixed http:// one on loopback.
                with urllib.request.urlopen(health_url, timeout=2) as reply:  # noqa: S310
                    assert reply.status == 200
                    body = json.loads(reply.read())
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert body is not None, "no answer on /healthz within 20 s"
        assert body["database"] == "ok"
        assert body["schema"]["current"] == head_revision()
        assert body["shop"] == "not configured"
        assert body["sync"] == "off"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            returncode = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            raise
        finally:
            out.close()
            err.close()
    assert returncode == 0, (tmp_path / "serve.err").read_text()
    assert "not configured" in (tmp_path / "serve.err").read_text()

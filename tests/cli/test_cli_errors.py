"""Every command in a broken environment: one error line (or a FAIL check), exit 1, no traceback."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli.main import main
from tests.support.paths import ROOT

EXAMPLE = ROOT / "catalog.example.toml"
PASSWORD = "s3cr3t-pw"
# Nothing listens on port 1 of the loopback: connection refused at once.
UNREACHABLE = f"postgresql+psycopg://bridge:{PASSWORD}@127.0.0.1:1/bridge"


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def _catalogue(folder: Path) -> None:
    shutil.copyfile(EXAMPLE, folder / "catalog.toml")


# (name, args, environment, prepare(folder) or None, cwd override or None)
MATRIX = [
    ("db upgrade, database unreachable", ["db", "upgrade"], {"DATABASE_URL": UNREACHABLE}),
    ("init, database unreachable", ["init"], {"DATABASE_URL": UNREACHABLE}),
    ("inbox, database unreachable", ["inbox"], {"DATABASE_URL": UNREACHABLE}),
    ("report, database unreachable", ["report"], {"DATABASE_URL": UNREACHABLE}),
    ("outbox, database unreachable", ["outbox"], {"DATABASE_URL": UNREACHABLE}),
    ("learner, database unreachable", ["learner", "a@example.com"], {"DATABASE_URL": UNREACHABLE}),
    ("inbox, no database file", ["inbox"], {"DATABASE_URL": "sqlite:///missing/dir/x.db"}),
    (
        "doctor, non-numeric port",
        ["doctor"],
        {"DATABASE_URL": f"postgresql://bridge:{PASSWORD}@db:port/bridge"},
    ),
    (
        "doctor, psycopg2 URL",
        ["doctor"],
        {"DATABASE_URL": f"postgresql+psycopg2://bridge:{PASSWORD}@db/bridge"},
    ),
    (
        "config, malformed URL",
        ["config"],
        {"DATABASE_URL": f"postgresql://bridge:{PASSWORD}@db:5x432/bridge"},
    ),
    ("db upgrade, unknown database", ["db", "upgrade"], {"DATABASE_URL": "mysql://x@db/b"}),
    ("sync, bad shop URL", ["sync", "orders"], {"WOOCOMMERCE_URL": "htp:/shop"}),
    ("catalog export, missing folder", ["catalog", "export", "-o", "/missing/dir/x.md"], {}),
    ("serve, port out of range", ["serve", "--port", "99999"], {}),
    ("serve, port in use", ["serve", "--port", "BUSY"], {}),
    ("init, read-only directory", ["init"], {"DATABASE_URL": "sqlite:////proc/bridge-test.db"}),
    ("webhooks install, no public URL", ["webhooks", "install"], {}),
]


@pytest.mark.parametrize("case, args, env", MATRIX, ids=[row[0] for row in MATRIX])
def test_a_broken_environment_gives_one_line_and_exit_1_never_a_traceback(
    workdir, busy_port, case, args, env
):
    """Each command, broken its own way, says what is wrong in one line, secrets masked."""
    from bridge.store.db import upgrade

    if "catalog" in args:
        _catalogue(workdir)
        upgrade_env = {"DATABASE_URL": f"sqlite:///{workdir}/bridge.db"}
        from bridge.store.db import make_engine

        engine = make_engine(upgrade_env["DATABASE_URL"])
        upgrade(engine)
        engine.dispose()
        env = {**upgrade_env, **env}
    args = [str(busy_port) if arg == "BUSY" else arg for arg in args]
    result = CliRunner().invoke(main, args, env=env, terminal_width=100)
    output = result.output
    assert result.exit_code == 1, (case, output, result.exception)
    assert isinstance(result.exception, SystemExit), (case, repr(result.exception))
    assert "Traceback" not in output
    assert PASSWORD not in output
    errors = [line for line in output.splitlines() if line.startswith(("error:", "[FAIL]"))]
    assert len(errors) >= 1, (case, output)
    assert all(len(line) < 400 for line in errors), errors
    if args[0] == "init":
        assert not (workdir / ".env").exists(), "init wrote .env and then failed"

"""The first hour, again: what a new user tripped over in the CLI and its wording (issue 35)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bridge.cli.main import main
from bridge.services.simulation import example_catalogue_path
from bridge.store.db import unit_of_work
from bridge.store.models import Learner

ROOT = Path(__file__).resolve().parents[1]


def bridge(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, ["--env-file", "/dev/null", *args], env=env,
                              terminal_width=100)


@pytest.fixture
def env(database_url: str, workdir: Path) -> dict[str, str]:
    """This test's database, the example catalogue and a webhook secret."""
    return {"DATABASE_URL": database_url, "BRIDGE_CATALOG_FILE": str(example_catalogue_path()),
            "WOOCOMMERCE_WEBHOOK_SECRET": "whsec-wcreal-test"}


def _learners(engine, count: int) -> None:
    with unit_of_work(engine) as session:
        session.add_all(Learner(email=f"learner{n}@example.com", name=f"Learner {n}")
                        for n in range(count))
        session.commit()


# --- 1. a reader that stops reading -----------------------------------------------------------

def _run_into_pipe(env: dict[str, str], args: list[str], *, read_first_line: bool
                   ) -> tuple[int, bytes, bytes]:
    """`python -m bridge ARGS | reader`: the reader reads one line and closes, or is gone
    before the command writes anything. The pipe holds one page, so a long output is still
    being written when the reader goes."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    if not read_first_line:
        os.close(read_end)
    process = subprocess.Popen(  # noqa: S603  (our own command, fixed arguments)
        [sys.executable, "-m", "bridge", "--env-file", "/dev/null", *args],
        stdin=subprocess.DEVNULL, stdout=write_end, stderr=subprocess.PIPE,
        env={**os.environ, **env}, cwd=ROOT)
    os.close(write_end)
    first = b""
    if read_first_line:
        with os.fdopen(read_end, "rb") as reader:
            first = reader.readline()
    _, errors = process.communicate(timeout=120)
    return process.returncode, first, errors


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("args", "read_first_line"), [
    (["learners", "--limit", "300"], True),
    (["learners", "--json"], False),
    (["catalog"], True),
    (["outbox", "--status", "all"], False),
])
def test_piping_into_a_reader_that_stops_early_is_silent_and_exits_0(env, engine, args,
                                                                    read_first_line):
    """`bridge learners | head`, `bridge outbox --status all | head`: no `error: Broken
    pipe`, no traceback, exit status 0."""
    _learners(engine, 300)
    status, first, errors = _run_into_pipe(env, args, read_first_line=read_first_line)
    assert (status, errors) == (0, b"")
    if read_first_line:
        assert first.strip()

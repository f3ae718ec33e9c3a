"""Files that hold secrets or personal data: `bridge init` writes them readable by their owner
only and, in a git work tree, ignored; `bridge doctor` warns about one others can read or git
tracks. Git itself (`git status`, `git add`) says what it sees."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bridge.cli.main import main

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
SECRETS = (
    ".env",
    "credential-signing-key.pem",
    "creator-bridge.db",
    "creator-bridge.db-wal",
    "creator-bridge.db-shm",
)


def bridge(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={})


GIT = shutil.which("git") or "git"


def git(folder: Path, *args: str) -> str:
    return subprocess.run(  # noqa: S603  (git itself, on the test's own folder)
        [GIT, "-C", str(folder), *args], capture_output=True, text=True, check=True
    ).stdout


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_in_a_git_checkout_leaves_git_status_clean_of_secrets(workdir: Path) -> None:
    """After `bridge init`, `git status` lists no secret and `git add -A` would stage none;
    each secret and the database are mode 0600; a second init adds nothing to .gitignore."""
    git(workdir, "init", "-q", ".")
    result = bridge("init")
    assert result.exit_code == 0, result.output
    assert "to " + str(workdir / ".gitignore") in result.output
    untracked = git(workdir, "status", "--porcelain", "--untracked-files=all")
    assert not [line for line in untracked.splitlines() if line[3:] in SECRETS], untracked
    for name in (".env", "credential-signing-key.pem", "creator-bridge.db"):
        assert mode(workdir / name) == 0o600, name
    git(workdir, "add", "-A")
    staged = git(workdir, "diff", "--cached", "--name-only").split()
    assert not set(staged) & set(SECRETS), staged
    assert "catalog.toml" in staged  # the catalogue is configuration, no secret
    ignore = (workdir / ".gitignore").read_text()
    # The Ed25519 key of embedded proofs is made later, on first use: ignored already.
    ed25519 = workdir / "credential-signing-key-ed25519.pem"
    ed25519.write_text("not a real key")
    assert git(workdir, "check-ignore", str(ed25519)).strip() == str(ed25519)
    again = bridge("init")
    assert again.exit_code == 0, again.output
    assert (workdir / ".gitignore").read_text() == ignore


def test_init_outside_git_only_makes_the_files_private(workdir: Path) -> None:
    result = bridge("init")
    assert result.exit_code == 0, result.output
    assert not (workdir / ".gitignore").exists()
    assert mode(workdir / "creator-bridge.db") == 0o600


def test_doctor_warns_about_a_readable_database_and_a_tracked_key(workdir: Path) -> None:
    """Others can read the database, git tracks the settings file: two warnings saying how
    to fix them; the other checks still pass."""
    git(workdir, "init", "-q", ".")
    assert bridge("init").exit_code == 0
    calm = bridge("doctor")
    assert "[PASS] files: secrets and the database readable by you only, ignored by git" in (
        calm.output
    )
    (workdir / "creator-bridge.db").chmod(0o644)
    git(workdir, "add", "-f", ".env")
    warned = bridge("doctor")
    assert "[WARN] file modes: others can read creator-bridge.db" in warned.output
    assert "chmod 600 creator-bridge.db" in warned.output
    assert "[WARN] git: git tracks .env" in warned.output
    assert "git rm --cached .env" in warned.output

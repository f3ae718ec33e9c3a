"""The files that hold secrets or personal data (the settings file, the signing key, the SQLite
database and the files beside it, backups): private to their owner, kept out of git.

``bridge init`` makes them private and adds them to the work tree's ``.gitignore``; ``bridge
doctor`` warns about one that others can read or that git tracks. Git is asked through its own
command (``git check-ignore``, ``git ls-files``); without git, or outside a work tree, only the
modes are checked.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

from bridge.settings import Settings
from bridge.store.backups import make_private, sqlite_files

GIT_TIMEOUT_SECONDS = 10


def private_files(settings: Settings, env_file: Path) -> list[Path]:
    """Every file of this installation that holds secrets or personal data (existing or not)."""
    # Here, not above: the credentials service (JOSE, JSON Schema) is slow to import, and the
    # operations package this module is part of is imported by every sync job run.
    from bridge.services.credentials import ed25519_key_path

    files = [env_file]
    if not settings.credentials.signing_key:
        files.append(Path(settings.credentials.key_file))
    # The Ed25519 key of embedded proofs is made on first use, beside the RS256 key file.
    files.append(ed25519_key_path(Path(settings.credentials.key_file)))
    files.extend(sqlite_files(settings.database.url))
    return files


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    program = shutil.which("git")
    if program is None:
        return None
    try:
        return subprocess.run(  # noqa: S603  (a fixed program, arguments as a list)
            [program, "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def work_tree(folder: Path) -> Path | None:
    """The git work tree the folder is in, None outside one (or without git)."""
    done = _git(folder, "rev-parse", "--show-toplevel")
    if done is None or done.returncode != 0 or not done.stdout.strip():
        return None
    return Path(done.stdout.strip())


def _ignored(root: Path, path: Path) -> bool:
    done = _git(root, "check-ignore", "-q", "--no-index", str(path))
    return done is not None and done.returncode == 0


def _tracked(root: Path, path: Path) -> bool:
    done = _git(root, "ls-files", "--error-unmatch", "--", str(path))
    return done is not None and done.returncode == 0


def _ignore_pattern(root: Path, path: Path) -> str | None:
    try:
        relative = path.resolve().relative_to(root.resolve())
    except ValueError:
        return None  # outside the work tree: git never sees it
    return "/" + relative.as_posix()


def protect(settings: Settings, env_file: Path, folder: Path) -> list[str]:
    """Make the private files that exist owner-only and, in a git work tree, ignored; one line
    per thing done."""
    done: list[str] = []
    for path in private_files(settings, env_file):
        if path.exists() and stat.S_IMODE(path.stat().st_mode) != 0o600:
            make_private(path)
            done.append(f"{path} made readable by you only")
    backups = Path(settings.database.backup_dir)
    root = work_tree(folder)
    if root is None:
        return done
    wanted = []
    for path in [*private_files(settings, env_file), backups]:
        folder_too = path == backups
        pattern = _ignore_pattern(root, path)
        # A folder's pattern matches what is in it, whether the folder exists yet or not.
        if pattern is None or _ignored(root, path / "backup" if folder_too else path):
            continue
        wanted.append(pattern + ("/" if folder_too else ""))
    if wanted:
        ignore = root / ".gitignore"
        text = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
        with ignore.open("a", encoding="utf-8") as handle:
            handle.write(
                ("" if text.endswith("\n") or not text else "\n")
                + "# creator-bridge: secrets and personal data (bridge init)\n"
                + "".join(f"{line}\n" for line in wanted)
            )
        done.append(f"added {len(wanted)} private file(s) to {ignore}: {', '.join(wanted)}")
    return done


def file_checks(settings: Settings, env_file: Path, folder: Path) -> list[dict[str, Any]]:
    """``bridge doctor``'s warnings: private files others can read, or that git tracks."""
    exposed, tracked = [], []
    root = work_tree(folder)
    for path in private_files(settings, env_file):
        if not path.exists():
            continue
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            exposed.append(str(path))
        if root is not None and _tracked(root, path):
            tracked.append(str(path))
    backups = Path(settings.database.backup_dir)
    if backups.is_dir() and any(
        stat.S_IMODE(p.stat().st_mode) & 0o077 for p in backups.iterdir() if p.is_file()
    ):
        exposed.append(f"{backups}/*")
    checks = []
    if exposed:
        checks.append(
            {
                "check": "file modes",
                "ok": True,
                "warning": True,
                "detail": f"others can read {', '.join(exposed)} (secrets or personal data)",
                "fix": "chmod 600 " + " ".join(exposed) + " (or run `bridge init` again)",
            }
        )
    if tracked:
        checks.append(
            {
                "check": "git",
                "ok": True,
                "warning": True,
                "detail": f"git tracks {', '.join(tracked)} (secrets or personal data)",
                "fix": "git rm --cached " + " ".join(tracked) + ", add them to .gitignore, "
                "and replace any secret that was pushed",
            }
        )
    if not checks:
        checks.append(
            {
                "check": "files",
                "ok": True,
                "detail": "secrets and the database readable by you only"
                + (", ignored by git" if root is not None else ""),
                "fix": "",
            }
        )
    return checks


def create_private(path: Path) -> None:
    """Create an empty file readable by its owner only, unless it exists."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

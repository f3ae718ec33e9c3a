"""Ground rules for every module: side-effect-free imports and documented settings.

The checks discover modules by walking the packages, so modules added later are covered too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bridge.settings import VARIABLES, load_settings, render_env_file
from tests.support.paths import ROOT

PACKAGES = ("bridge", "webhooks", "sync")

# Runs in a fresh interpreter. "discover" imports every project module and prints the other
# modules that this pulled in; "trace" imports those first (so that their own start-up is not
# counted), then sets traps and imports every project module again, printing what the imports did.
IMPORT_PROBE = r'''
import importlib, json, os, pkgutil, sys, threading, traceback
from collections.abc import MutableMapping

PACKAGES = ("bridge", "webhooks", "sync")
# Alembic's env.py runs migrations when executed; it is a script, not an importable module.
NOT_MODULES = {"bridge.store.migrations.env"}
mode = sys.argv[1]
events = []
importing = ["(discovery)"]


def is_project(name):
    return any(name == p or name.startswith(p + ".") for p in PACKAGES)


def import_all():
    """Import each package, then walk it with pkgutil; return the modules in import order."""
    seen = []

    def visit(name):
        if name in NOT_MODULES or name.rsplit(".", 1)[-1] == "__main__":
            return
        importing[0] = name
        seen.append(name)
        try:
            module = importlib.import_module(name)
        except Exception:
            events.append((name, "failed to import: " + traceback.format_exc(limit=3)))
            return
        for info in pkgutil.iter_modules(getattr(module, "__path__", []), name + "."):
            visit(info.name)

    for package in PACKAGES:
        visit(package)
    return seen


if mode == "discover":
    import_all()
    others = [name for name in list(sys.modules) if not is_project(name)]
    print(json.dumps({"others": others, "events": events}))
    sys.exit(0)

for name in json.loads(sys.stdin.read()):
    try:
        importlib.import_module(name)
    except Exception:  # noqa: BLE001  (aliases and private modules may refuse a direct import)
        pass
import socket, sqlite3, _thread
import psycopg


# Libraries that look at one switch of their own while our modules declare things, not settings:
# gettext reads the locale when click translates option texts at decoration time, and pydantic
# reads its plugin switch whenever a model class is defined.
LIBRARY_SWITCHES = {
    ("gettext", "LANGUAGE"), ("gettext", "LC_ALL"), ("gettext", "LC_MESSAGES"),
    ("gettext", "LANG"), ("pydantic.plugin._loader", "PYDANTIC_DISABLE_PLUGINS"),
}
PLUMBING = ("os", "_collections_abc", "collections.abc", "__main__")


def record(what):
    events.append((importing[0], what))


def reader():
    """The module whose code asked os.environ, past os.getenv and the Mapping helpers."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__") in PLUMBING:
        frame = frame.f_back
    return frame.f_globals.get("__name__") if frame is not None else "?"


class TrackingEnviron(MutableMapping):
    """os.environ that notes every read; os.getenv goes through it too."""

    def __init__(self, real):
        self._real = real

    def __getitem__(self, key):
        by = reader()
        if (by, key) not in LIBRARY_SWITCHES:
            record(f"read environment variable {key} (in {by})")
        return self._real[key]

    def __setitem__(self, key, value):
        record(f"set environment variable {key}")
        self._real[key] = value

    def __delitem__(self, key):
        record(f"deleted environment variable {key}")
        del self._real[key]

    def __iter__(self):
        record("listed the environment")
        return iter(self._real)

    def __len__(self):
        record("counted the environment")
        return len(self._real)

    def copy(self):
        record("copied the environment")
        return dict(self._real)


def refuse(what):
    def trap(*args, **kwargs):
        shown = ", ".join(repr(arg) for arg in args if not isinstance(arg, (socket.socket, type)))
        record(f"{what}({shown})")
        raise OSError(f"{what} is not allowed while importing")

    return trap


os.environ = TrackingEnviron(os.environ)
socket.socket.connect = refuse("socket.connect")
socket.socket.connect_ex = refuse("socket.connect_ex")
socket.getaddrinfo = refuse("socket.getaddrinfo")
sqlite3.connect = refuse("sqlite3.connect")
psycopg.connect = refuse("psycopg.connect")
psycopg.Connection.connect = classmethod(refuse("psycopg.Connection.connect"))
original_thread_start = threading.Thread.start


def start_thread(self):
    record(f"started thread {self.name!r}")
    return original_thread_start(self)


threading.Thread.start = start_thread
_thread.start_new_thread = refuse("_thread.start_new_thread")
threads_before = threading.active_count()

imported = import_all()
importing[0] = "(after all imports)"
if threading.active_count() != threads_before:
    names = sorted(thread.name for thread in threading.enumerate())
    record(f"left {threading.active_count() - threads_before} more thread(s) running: {names}")
print(json.dumps({"imported": imported, "events": events}))
'''


def _run_probe(mode: str, stdin: str = "") -> dict[str, list]:
    done = subprocess.run(  # noqa: S603  (this interpreter, running the probe above)
        [sys.executable, "-c", IMPORT_PROBE, mode],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"import probe ({mode}) crashed:\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_every_module_opens_no_connection_reads_no_environment_and_starts_no_thread() -> (
    None
):
    """Importing each module of bridge, webhooks and sync in a fresh interpreter has no effects."""
    discovered = _run_probe("discover")
    assert discovered["events"] == [], f"modules failed to import: {discovered['events']}"
    traced = _run_probe("trace", stdin=json.dumps(discovered["others"]))
    assert {
        "bridge",
        "bridge.cli.main",
        "bridge.settings",
        "bridge.store.db",
        "webhooks",
        "webhooks.app",
        "sync",
    } <= set(traced["imported"])
    effects = [f"{module}: {what}" for module, what in traced["events"]]
    assert effects == [], "importing must do nothing:\n" + "\n".join(effects)


def test_the_import_probe_catches_environment_reads_connections_and_threads(
    tmp_path: Path,
) -> None:
    """A module that reads the environment, connects and starts a thread at import is reported."""
    package = tmp_path / "sync"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "noisy.py").write_text(
        "import os, socket, threading\n"
        "HOME = os.environ.get('HOME')\n"
        "threading.Thread(target=lambda: None).start()\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
        "except OSError:\n"
        "    pass\n"
    )
    # The decoy package shadows the real `sync` because its folder comes first on sys.path.
    shadow = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import importlib,"
    probe = IMPORT_PROBE.replace("import importlib,", shadow, 1)
    done = subprocess.run(  # noqa: S603  (this interpreter, running the probe above)
        [sys.executable, "-c", probe, "trace"],
        input="[]",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    events = [
        what
        for module, what in json.loads(done.stdout.splitlines()[-1])["events"]
        if module == "sync.noisy"
    ]
    assert "read environment variable HOME (in sync.noisy)" in events
    assert any(what.startswith("started thread") for what in events)
    assert any(what.startswith("socket.") for what in events)


def test_config_example_env_is_exactly_the_rendered_settings_file() -> None:
    """config.example.env matches render_env_file(), so it documents every variable as declared."""
    example = ROOT / "config.example.env"
    assert example.read_text(encoding="utf-8") == render_env_file(), (
        "config.example.env is out of date; regenerate it with: python scripts/settings_docs.py"
    )


def test_every_variable_is_documented_with_a_one_line_comment_and_a_valid_example() -> None:
    """Each variable has a one-line comment right above its example line, and the example parses."""
    lines = (ROOT / "config.example.env").read_text(encoding="utf-8").splitlines()
    for var in VARIABLES:
        assert "\n" not in var.doc and var.doc.strip(), var.name
        [index] = [
            i for i, line in enumerate(lines) if line.removeprefix("# ").startswith(var.name + "=")
        ]
        assert lines[index - 1] == f"# {var.doc}", var.name
        assert lines[index].removeprefix("# ") == f"{var.name}={var.example}"
        var.parse(var.example)


def test_the_example_settings_file_loads_as_it_is(tmp_path: Path) -> None:
    """A copy of config.example.env used as .env yields valid settings without a shop."""
    env_file = tmp_path / ".env"
    env_file.write_text((ROOT / "config.example.env").read_text(encoding="utf-8"))
    settings = load_settings(environ={}, env_file=env_file)
    assert not settings.shop.configured
    assert settings.database.url.startswith("sqlite:///")

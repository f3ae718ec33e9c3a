"""A newcomer's install: the wheel, in a fresh virtualenv, in an empty folder, with no checkout."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import ROOT

SOURCES = ("pyproject.toml", "README.md", "bridge", "webhooks", "sync")


def _call(args: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    """Run pip, venv or the installed console script (fixed arguments, no shell), never with a
    PYTHONPATH: one naming a checkout would stand in for the wheel (pip would find the project
    installed already, the virtualenv's python would import the checkout)."""
    env = dict(options.pop("env", None) or os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run(args, env=env, **options)  # noqa: S603


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a new virtualenv holding only the wheel built from this tree.

    The dependencies come from the running interpreter's site-packages through a .pth line,
    so nothing is downloaded; the project itself comes only from the wheel.
    """
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(
                path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            shutil.copy(path, source / name)
    dist = work / "dist"
    _call(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        check=True,
        capture_output=True,
        timeout=180,
    )
    wheel = next(dist.glob("creator_bridge-*.whl"))
    venv = work / "venv"
    _call([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    purelib = _call(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "deps-of-the-test-runner.pth").write_text("\n".join(sorted(deps)) + "\n")
    _call(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return venv / "bin"


def _page(url: str) -> tuple[int, str]:
    """The status and text of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (http only)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _run(bin_dir: Path, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(folder), "LANG": "C.UTF-8"}
    return _call(
        [str(bin_dir / "bridge"), *args],
        cwd=folder,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )


def test_the_wheel_holds_no_checkout_and_imports_from_its_own_install(
    installed: Path, tmp_path: Path
) -> None:
    """The installed package is the wheel's, with the example catalogue inside it."""
    where = _call(
        [
            str(installed / "python"),
            "-c",
            "import bridge, importlib.resources as r; print(bridge.__file__); "
            "print(r.files('bridge').joinpath('data/catalog.example.toml').is_file())",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert where[0].startswith(str(installed.parent))
    assert where[1] == "True"


def test_init_demo_and_serve_work_from_the_wheel_in_an_empty_folder(
    installed: Path, tmp_path: Path
) -> None:
    """`bridge init` writes catalog.toml from the package, `demo` plays, `serve` answers, its
    pages too (every audience's templates and the stylesheet are in the wheel)."""
    init = _run(installed, tmp_path, "init")
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "catalog.toml").read_text().startswith("# creator-bridge catalogue")
    assert "wrote catalog.toml" in init.stdout
    demo = _run(installed, tmp_path, "demo")
    assert demo.returncode == 0, demo.stderr
    assert "What each learner holds now" in demo.stdout
    token = _run(installed, tmp_path, "tokens", "create", "phone", "--scope", "read", "--json")
    assert token.returncode == 0, token.stderr
    read_token = json.loads(token.stdout)["token"]
    port = _free_port()
    env = {"PATH": f"{installed}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    server = subprocess.Popen(  # noqa: S603
        [str(installed / "bridge"), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.2)
        assert body is not None, "bridge serve did not answer /healthz in 30 s"
        assert body["status"] == "ok" and body["schema"]["up_to_date"] is True
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/docs/", timeout=5) as r:
            assert b"swagger-ui-bundle.js" in r.read()
        pages = {
            path: _page(f"http://127.0.0.1:{port}{path}")
            for path in (
                "/assets/console.css",
                f"/report?token={read_token}",
                "/console/login",
                "/outcomes",
            )
        }
        assert pages["/assets/console.css"][0] == 200
        assert ".report svg" in pages["/assets/console.css"][1]
        status, report = pages[f"/report?token={read_token}"]
        assert status == 200 and '<section id="funnel">' in report  # report/body.html
        status, login = pages["/console/login"]
        assert status == 200 and 'name="csrf_token"' in login  # console/login.html
        status, outcomes = pages["/outcomes"]
        assert status == 200 and "These figures as JSON" in outcomes  # outcomes/base.html
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
        server.communicate()

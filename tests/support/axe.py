"""axe-core, the accessibility checker, injected into a page the browser tests opened.

axe-core comes from npm (package.json pins it, package-lock.json locks it; `npm ci` installs it
under node_modules/, as .ci/run does). The page's own Content-Security-Policy forbids inline
scripts, so a context that injects axe is made with ``bypass_csp`` (``new_axe_context``).
Without node_modules the tests skip, saying so; on CI (CI=true) they fail.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import pytest

from tests.support.paths import ROOT

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# What must not appear: axe's two worst impact levels.
BLOCKING = ("serious", "critical")


@lru_cache(maxsize=1)
def axe_source() -> str:
    """axe.min.js, or a skip (a failure on CI) that says how to install it."""
    if not AXE.is_file():
        problem = f"{AXE.relative_to(ROOT)} is missing: run `npm ci` in the checkout"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the accessibility checks must run on CI: {problem}")
        pytest.skip(problem)
    return AXE.read_text(encoding="utf-8")


def new_axe_context(browser: Any, **options: Any) -> Any:
    """A browser context axe can be injected into (the pages' CSP allows no inline script)."""
    return browser.new_context(bypass_csp=True, **options)


def violations(page: Any, blocking: tuple[str, ...] = BLOCKING) -> list[dict[str, Any]]:
    """axe's violations of the page as it is now, those of the ``blocking`` impacts only."""
    page.add_script_tag(content=axe_source())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [found for found in result["violations"] if found.get("impact") in blocking]


def describe(found: list[dict[str, Any]]) -> str:
    """One line per violation and the first elements it names, for an assertion message."""
    lines = []
    for violation in found:
        targets = [", ".join(node["target"]) for node in violation["nodes"][:3]]
        lines.append(f"{violation['impact']}: {violation['id']} ({violation['help']}) at {targets}")
    return "\n".join(lines)
